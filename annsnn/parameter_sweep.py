"""sweep(): evaluate every combination of conversion settings, locally or on a Dask cluster."""
import itertools
import time

from annsnn.errors import ConversionError

CONVERTER_OPTIONS = ("input_encoding", "hidden_neuron", "read_out", "max_f", "k", "normalization", "percentile",
                     "seed", "num_threads")
SWEEPABLE = CONVERTER_OPTIONS + ("scale_factor", "duration")


def _checked_grid(grid, fixed):
    """The grid with every value list materialised; unknown or empty settings raise ConversionError."""
    if not isinstance(grid, dict) or not grid:
        raise ConversionError("grid must be a non-empty dict of setting name -> list of values")
    for name in list(grid) + list(fixed):
        if name not in SWEEPABLE:
            raise ConversionError(f"cannot sweep '{name}'; settings are: {', '.join(SWEEPABLE)}")
    checked = {}
    for name, values in grid.items():
        if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
            raise ConversionError(f"grid['{name}'] must be a list of values, got {values!r}")
        checked[name] = list(values)
        if not checked[name]:
            raise ConversionError(f"grid['{name}'] is empty")
    overlap = set(grid) & set(fixed)
    if overlap:
        raise ConversionError(f"{', '.join(sorted(overlap))} given both in grid and as a fixed setting")
    return checked


def _table(rows):
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)


def sweep(model, samples, labels, grid, duration=200, client=None, batch_size=None, calibration_data=None,
          chunk_size=None, progress=True, **fixed):
    """Evaluate ``model`` on (samples, labels) for every combination in ``grid``.

    >>> table = annsnn.sweep("mlp.keras", X, y, grid={"input_encoding": ["IB", "PSO"],
    ...                                               "duration": [100, 200]}, client=client)

    ``grid`` maps settings (converter options, ``scale_factor``, ``duration``) to value lists;
    ``fixed`` settings apply to every combination. With a ``dask.distributed.Client`` all
    combinations are submitted at once and run on its workers. Returns a pandas DataFrame when
    pandas is installed, else a list of dicts: one row per combination with its settings,
    accuracy, the accuracy at every step, SynOps and energy per sample, and the seconds from
    submission until its results were back.
    """
    from annsnn.conversion.converter import ANNtoSNNConverter, check_duration
    from annsnn.conversion.evaluation import _labels, evaluate, summarise
    from annsnn.conversion.keras_model import load_keras
    grid = _checked_grid(grid, fixed)
    keras_model = load_keras(model)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    jobs, rows = [], []
    try:
        for combo in combos:
            settings = {**fixed, **combo}
            steps = settings.pop("duration", duration)
            scale_factor = settings.pop("scale_factor", None)
            conv = ANNtoSNNConverter(**settings)
            conv.load_keras_model(keras_model, scale_factor=scale_factor, show_info=False, batch_size=batch_size,
                                  calibration_data=calibration_data, compile=client is None)
            started = time.perf_counter()
            if client is None:
                result = evaluate(conv, samples, labels, steps, progress=progress)
                rows.append(_row(combo, steps, result, time.perf_counter() - started))
            else:
                from annsnn.distributed import submit
                x, steps = conv._prepare(samples), check_duration(steps)
                y = _labels(labels, len(x))
                jobs.append((combo, conv, y, steps, submit(conv, client, x, y, steps, chunk_size=chunk_size),
                             started))
        for combo, conv, y, steps, job, started in jobs:
            outcome = job.result(progress)
            result = summarise(conv, outcome, conv.conclude(outcome), y, steps)
            rows.append(_row(combo, steps, result, time.perf_counter() - started))
    finally:
        for job in jobs:
            job[4].release()
    return _table(rows)


def _row(combo, steps, result, seconds):
    return dict(combo, duration=steps, accuracy=result.accuracy, samples=result.samples,
                synops_per_sample=result.total_synops, snn_energy_uj=result.snn_energy_uj,
                accuracy_curve=result.accuracy_curve, seconds=seconds)
