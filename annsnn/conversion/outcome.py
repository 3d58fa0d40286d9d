"""Outcome: what simulating a run of samples produced, in a form that chunks can be joined from."""
from dataclasses import dataclass, field
from typing import List

import numpy as np


@dataclass
class Outcome:
    """Per-sample results of samples ``first_id .. first_id + n - 1``.

    ``curve_parts`` holds, per simulated batch and in order, the expected number of correct
    answers had the read-out been taken at each step (evaluate only). Keeping the parts
    instead of their sum lets chunks simulated elsewhere be summed in exactly the local order.
    """
    first_id: int
    scores: np.ndarray            # (n, classes) read-out values
    stop_steps: np.ndarray        # (n,) decision step of early-stopping read-outs, -1 for none
    synaptic_events: np.ndarray   # (n, projections) events delivered
    spike_totals: np.ndarray      # (populations,) spikes over all n samples
    curve_parts: List[np.ndarray] = field(default_factory=list)
    # (n, projections) multiply-accumulates of projections from graded (non-spiking) populations, such as
    # analog input: every non-zero value is sent every step, weighted by a multiplication
    graded_events: np.ndarray = None

    def __len__(self):
        return len(self.scores)

    @classmethod
    def empty(cls, classes, projections, populations):
        return cls(0, np.zeros((0, classes)), np.zeros(0, dtype=np.int64), np.zeros((0, projections)),
                   np.zeros(populations), graded_events=np.zeros((0, projections)))

    @classmethod
    def concatenate(cls, parts):
        """Join chunk outcomes given in sample order (they must tile the samples without gaps)."""
        expected = parts[0].first_id
        for part in parts:
            if part.first_id != expected:
                raise ValueError(f"chunk outcomes do not tile the samples: expected a chunk starting at "
                                 f"{expected}, got one starting at {part.first_id}")
            expected += len(part)
        totals = np.zeros_like(parts[0].spike_totals)
        for part in parts:
            totals += part.spike_totals
        return cls(parts[0].first_id, np.concatenate([p.scores for p in parts]),
                   np.concatenate([p.stop_steps for p in parts]),
                   np.concatenate([p.synaptic_events for p in parts]), totals,
                   [curve for p in parts for curve in p.curve_parts],
                   graded_events=np.concatenate([p.graded_events for p in parts]))

    def accuracy_curve(self, steps):
        """Expected correct answers per step summed over the batches, in their order."""
        correct = np.zeros(int(steps))
        for part in self.curve_parts:
            correct[:len(part)] += part
        return correct
