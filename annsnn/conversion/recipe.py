"""NetworkRecipe: a converted network as plain data, to rebuild it where Keras is not loaded."""
import hashlib
import pickle
from dataclasses import dataclass
from typing import Dict, Tuple

from .keras_model import LayerPlan


@dataclass(frozen=True)
class NetworkRecipe:
    """Converter options plus the normalised layer plans; ANNtoSNNConverter.from_recipe() rebuilds it."""
    options: Dict[str, object]         # the converter's constructor arguments
    plans: Tuple[LayerPlan, ...]        # weights are the Keras ones; factors scale them when built
    factors: Tuple[object, ...]        # per layer: a number, or an (in, out) array (channel-wise)
    bias_factors: Tuple[object, ...]   # per layer: a number, or one per output channel
    lambdas: Dict[str, object]         # a number, or one per channel
    batch_size: int
    bias_corrections: Dict[str, object]  # per-channel bias currents added by calibration (numpy arrays)
    potential_corrections: Dict[str, object]  # per-channel start potentials added by calibration

    def digest(self):
        """Content hash: equal recipes share a name on the cluster, different ones never do."""
        return hashlib.sha256(pickle.dumps(self, protocol=5)).hexdigest()
