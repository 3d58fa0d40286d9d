"""Progress bars (tqdm) for long runs, shared by the local and the Dask runner."""


def progress_bar(total, enabled, desc="annsnn predict"):
    """A tqdm bar over ``total`` samples, or None when not ``enabled``."""
    if not enabled:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, unit="sample", desc=desc)
