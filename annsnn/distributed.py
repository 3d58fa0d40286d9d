"""Distributed predict and evaluate on a Dask cluster (the optional extra ``annsnn[distributed]``).

The converted network goes to each worker once per call, as a worker plugin holding its
NetworkRecipe. A worker builds it on first use through the content-hash cache (a cache hit where
the module is already there) and reuses it for every later chunk; chunks carry only their samples.
Chunks are whole batches, numbered by sample, so results equal a local run bit for bit.
Dask reschedules the chunks of a worker that dies; results are joined by sample number, so
none is lost or counted twice.
"""
import math
import os
import queue
import socket
import uuid

try:
    from distributed import WorkerPlugin, as_completed, get_worker
except ImportError as exc:  # only reached when a client was passed
    raise ImportError("annsnn's distributed runs need Dask: pip install 'annsnn[distributed]'") from exc

from annsnn.progress import progress_bar
from annsnn.conversion.outcome import Outcome
from annsnn.errors import AnnsnnError, InputError, WorkerError

PLUGIN_PREFIX = "annsnn-network-"
CHUNKS_PER_THREAD = 4          # a few chunks per worker thread balance uneven workers
MAX_CHUNK_BYTES = 4 << 20      # samples shipped per task; keeps task messages small


def worker_threads(recipe):
    """OpenMP threads per network on a worker: the converter's num_threads, else $OMP_NUM_THREADS
    (Dask nannies set it to 1: parallelism comes from worker processes), else 1."""
    if recipe.options.get("num_threads"):
        return int(recipe.options["num_threads"])
    try:
        return max(1, int(os.environ.get("OMP_NUM_THREADS", "1")))
    except ValueError:
        return 1


def _describe(worker):
    return f"Dask worker {worker.address} (name {worker.name!r}, host {socket.gethostname()})"


class NetworkPlugin(WorkerPlugin):
    """Holds one recipe on a worker and a pool of networks built from it (one per concurrent task)."""

    def __init__(self, recipe, rebuild):
        # rebuild(recipe, num_threads=...) -> a converter; passed in (pickled by reference) so that this
        # runner does not import the converter, which imports it
        self.recipe, self.rebuild = recipe, rebuild

    def setup(self, worker):
        self.worker = worker
        self._idle = queue.SimpleQueue()

    def teardown(self, worker):
        while not self._idle.empty():
            self._idle.get_nowait()

    def acquire(self):
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return self.rebuild(self.recipe, num_threads=worker_threads(self.recipe))
        except AnnsnnError as exc:
            raise WorkerError(f"building the network failed on {_describe(self.worker)}: "
                              f"{type(exc).__name__}: {exc}", worker=self.worker.address) from None

    def release(self, conv):
        self._idle.put(conv)


def run_chunk(plugin_name, x, y, first_id, duration):
    """Task body: simulate samples ``first_id ..`` with this worker's copy of the network."""
    worker = get_worker()
    plugin = worker.plugins.get(plugin_name)
    if plugin is None:
        raise WorkerError(f"network {plugin_name} is not registered on {_describe(worker)}",
                          worker=worker.address)
    conv = plugin.acquire()
    try:
        return conv.run_here(x, y, duration, first_id=first_id)
    except AnnsnnError as exc:
        raise WorkerError(f"simulating samples {first_id}..{first_id + len(x) - 1} failed on "
                          f"{_describe(worker)}: {type(exc).__name__}: {exc}", worker=worker.address) from None
    finally:
        plugin.release(conv)


def chunk_length(n, sample_bytes, batch, requested, threads):
    """Samples per task: whole batches (so batch composition matches a local run), a few per thread."""
    if requested is not None:
        if not isinstance(requested, int) or isinstance(requested, bool) or requested < 1 or requested % batch:
            raise InputError(f"chunk_size must be a positive multiple of the batch size {batch}, got {requested!r}")
        return requested
    size = min(math.ceil(n / (max(threads, 1) * CHUNKS_PER_THREAD)), max(1, MAX_CHUNK_BYTES // sample_bytes))
    return max(batch, math.ceil(size / batch) * batch)


class ClusterJob:
    """Chunks of one converter submitted to a cluster; result() joins them in sample order."""

    def __init__(self, client, conv, plugin_name, futures, lengths):
        self.client, self.conv, self.plugin_name = client, conv, plugin_name
        self.futures, self.lengths = futures, lengths

    def result(self, progress=False):
        n = sum(self.lengths)
        if not self.futures:
            conv = self.conv
            return Outcome.empty(conv.populations[-1].size, len(conv.projections), len(conv.populations))
        bar = progress_bar(n, progress, desc="annsnn predict (dask)")
        length = dict(zip((f.key for f in self.futures), self.lengths))
        try:
            for future in as_completed(self.futures):
                if future.status == "error":
                    future.result()  # raises the chunk's error now; the rest are cancelled below
                if bar is not None:
                    bar.update(length[future.key])
            parts = self.client.gather(self.futures)
        except BaseException:
            self.client.cancel(self.futures)
            raise
        finally:
            if bar is not None:
                bar.close()
            self.release()
        outcome = Outcome.concatenate(parts)
        if len(outcome) != n:
            raise WorkerError(f"the cluster returned {len(outcome)} results for {n} samples")
        return outcome

    def release(self):
        """Drop the network from the workers (the module stays in their build cache)."""
        if self.plugin_name is not None:
            name, self.plugin_name = self.plugin_name, None
            try:
                self.client.unregister_worker_plugin(name)
            except (ValueError, OSError):
                pass  # already gone, or the cluster is shutting down


def submit(conv, client, x, y, duration, batch_size=None, chunk_size=None):
    """Send the network once and one task per chunk; returns a ClusterJob."""
    recipe = conv.recipe(batch_size)
    if len(x) == 0:
        return ClusterJob(client, conv, None, [], [])
    threads = sum(client.nthreads().values())
    size = chunk_length(len(x), x[0].nbytes, recipe.batch_size, chunk_size, threads)
    name = f"{PLUGIN_PREFIX}{recipe.digest()[:16]}-{uuid.uuid4().hex[:8]}"
    client.register_plugin(NetworkPlugin(recipe, type(conv).from_recipe), name=name)
    job = ClusterJob(client, conv, name, [], [])
    try:
        for start in range(0, len(x), size):
            labels = None if y is None else y[start:start + size]
            job.futures.append(client.submit(run_chunk, name, x[start:start + size], labels, start, duration,
                                             pure=False, key=f"annsnn-chunk-{name[len(PLUGIN_PREFIX):]}-{start}"))
            job.lengths.append(len(x[start:start + size]))
    except BaseException:
        client.cancel(job.futures)
        job.release()
        raise
    return job


def simulate_on_cluster(conv, client, x, y, duration, batch_size=None, chunk_size=None, progress=False):
    """predict/evaluate on ``client``'s workers: an Outcome equal to the local one."""
    return submit(conv, client, x, y, duration, batch_size, chunk_size).result(progress)
