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
          chunk_size=None, progress=True, in_flight=4, **fixed):
    """Evaluate ``model`` on (samples, labels) for every combination in ``grid``.

    >>> table = annsnn.sweep("mlp.keras", X, y, grid={"input_encoding": ["IB", "PSO"],
    ...                                               "duration": [100, 200]}, client=client)

    ``grid`` maps settings (converter options, ``scale_factor``, ``duration``) to value lists;
    ``fixed`` settings apply to every combination. With a ``dask.distributed.Client`` up to
    ``in_flight`` combinations are on its workers at once (each holds its own networks there).
    Returns a pandas DataFrame when pandas is installed, else a list of dicts: one row per
    combination with its settings, accuracy, the accuracy at every step, SynOps and energy per
    sample, and the seconds from submission until its results were back.
    """
    from annsnn.conversion.keras_model import load_keras
    grid = _checked_grid(grid, fixed)
    if not isinstance(in_flight, int) or in_flight < 1:
        raise ConversionError(f"in_flight must be a positive integer, got {in_flight!r}")
    keras_model = load_keras(model)
    combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
    run = dict(keras_model=keras_model, samples=samples, labels=labels, duration=duration, client=client,
               batch_size=batch_size, calibration_data=calibration_data, chunk_size=chunk_size,
               progress=progress, fixed=fixed)
    if client is None:
        return _table([_finish(_start(combo, **run), progress) for combo in combos])
    pending, jobs, rows = list(combos), [], []
    try:
        while pending or jobs:
            while pending and len(jobs) < in_flight:
                jobs.append(_start(pending.pop(0), **run))
            rows.append(_finish(jobs.pop(0), progress))
    finally:
        for job in jobs:
            job["cluster"].release()
    return _table(rows)


def _start(combo, keras_model, samples, labels, duration, client, batch_size, calibration_data, chunk_size,
           progress, fixed):
    """Convert one combination; evaluate it here, or submit it to the cluster."""
    from annsnn.conversion.converter import ANNtoSNNConverter, check_duration
    from annsnn.conversion.evaluation import _labels, evaluate
    settings = {**fixed, **combo}
    steps = check_duration(settings.pop("duration", duration))
    scale_factor = settings.pop("scale_factor", None)
    conv = ANNtoSNNConverter(**settings)
    conv.load_keras_model(keras_model, scale_factor=scale_factor, show_info=False, batch_size=batch_size,
                          calibration_data=calibration_data, compile=client is None)
    job = dict(combo=combo, conv=conv, steps=steps, started=time.perf_counter())
    if client is None:
        job["result"] = evaluate(conv, samples, labels, steps, progress=progress)
    else:
        from annsnn.distributed import submit
        x = conv._prepare(samples)
        job["y"] = _labels(labels, len(x))
        job["cluster"] = submit(conv, client, x, job["y"], steps, chunk_size=chunk_size)
    return job


def _finish(job, progress):
    from annsnn.conversion.evaluation import summarise
    if "cluster" in job:
        outcome = job["cluster"].result(progress)
        job["result"] = summarise(job["conv"], outcome, job["conv"].conclude(outcome), job["y"], job["steps"])
    return _row(job["combo"], job["steps"], job["result"], time.perf_counter() - job["started"])


def _row(combo, steps, result, seconds):
    return dict(combo, duration=steps, accuracy=result.accuracy, samples=result.samples,
                synops_per_sample=result.total_synops, snn_energy_uj=result.snn_energy_uj,
                accuracy_curve=result.accuracy_curve, seconds=seconds)
