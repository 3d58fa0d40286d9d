"""Keras, imported quietly; a module of its own so that the QCFS layer and the Keras importer can both
use it without importing each other."""
import contextlib
import os
import subprocess
import sys

from annsnn.errors import ConversionError

#: TensorFlow's INFO start-up notices (oneDNN, CPU features) and absl's note that logging is not yet
#: initialised. TensorFlow >= 2.21 prints them through absl before it reads TF_CPP_MIN_LOG_LEVEL.
START_UP_NOTICE = r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|I\d{4} \d\d:)"

#: The sieve: a child process that copies its input to its output, line by line as it comes, except
#: the notices. A process, not a thread: if TensorFlow aborts while it loads, what it printed first
#: (its fatal message) still reaches stderr.
SIEVE = ("import re, sys\n"
         "notice = re.compile(sys.argv[1].encode())\n"
         "for line in sys.stdin.buffer:\n"
         "    if not notice.match(line):\n"
         "        sys.stdout.buffer.write(line)\n"
         "        sys.stdout.buffer.flush()\n")


def _flush_stderr():
    if sys.stderr is not None:
        sys.stderr.flush()


@contextlib.contextmanager
def _without_start_up_notices():
    """Runs the block with file descriptor 2 sent through the sieve; every other line passes.

    The notices come from C++ while TensorFlow loads, so only the descriptor, not sys.stderr, sees
    them. Without a usable stderr (closed) or a way to start the sieve, the block runs unfiltered."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr: nothing to filter
        yield
        return
    try:
        sieve = subprocess.Popen([sys.executable, "-c", SIEVE, START_UP_NOTICE], stdin=subprocess.PIPE, stdout=saved,
                                 stderr=saved)
    except OSError:
        os.close(saved)
        yield
        return
    _flush_stderr()
    os.dup2(sieve.stdin.fileno(), 2)
    try:
        yield
    finally:
        _flush_stderr()
        os.dup2(saved, 2)
        os.close(saved)
        sieve.stdin.close()  # the sieve reads to the end, then exits
        try:
            sieve.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a process started meanwhile still holds the pipe
            pass


def import_keras():
    """Keras, without TensorFlow's C++ start-up notices (CPU features, oneDNN) on stderr.

    TF_CPP_MIN_LOG_LEVEL=1 drops only INFO lines, so TensorFlow's warnings and errors still print;
    it must be set before TensorFlow loads, and a value the user set wins (0 keeps the notices).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    quiet = "keras" not in sys.modules and os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0"
    try:
        with _without_start_up_notices() if quiet else contextlib.nullcontext():
            import keras
    except ImportError:
        raise ConversionError("reading Keras models needs TensorFlow/Keras: pip install 'annsnn[keras]'") from None
    return keras
