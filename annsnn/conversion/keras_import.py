"""Keras, imported quietly; a module of its own so that the QCFS layer and the Keras importer can both
use it without importing each other."""
import contextlib
import os
import re
import sys
import tempfile

from annsnn.errors import ConversionError

#: TensorFlow's INFO start-up notices (oneDNN, CPU features) and absl's note that logging is not yet
#: initialised. TensorFlow >= 2.21 prints them through absl before it reads TF_CPP_MIN_LOG_LEVEL.
START_UP_NOTICE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called|I\d{4} \d\d:)")


@contextlib.contextmanager
def _without_start_up_notices():
    """Runs the block with file descriptor 2 captured, then writes back every line but the notices.

    The notices come from C++ while TensorFlow loads, so only the descriptor, not sys.stderr, sees
    them; warnings and errors printed meanwhile pass through unchanged, after the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not START_UP_NOTICE.match(line))
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


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
