"""Keras, imported quietly; a module of its own so that the QCFS layer and the Keras importer can both
use it without importing each other."""
import os

from annsnn.errors import ConversionError


def import_keras():
    """Keras, without TensorFlow's C++ start-up notices (CPU features, oneDNN) on stderr.

    TF_CPP_MIN_LOG_LEVEL=1 drops only INFO lines, so TensorFlow's warnings and errors still print;
    it must be set before TensorFlow loads, and a value the user set wins.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
    try:
        import keras
    except ImportError:
        raise ConversionError("reading Keras models needs TensorFlow/Keras: pip install 'annsnn[keras]'") from None
    return keras
