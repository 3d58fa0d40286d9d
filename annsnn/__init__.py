"""annsnn: convert Keras and ONNX networks to spiking networks and simulate them with generated C++."""
from .version import __version__

from .errors import (AnnsnnError, BuildError, ConversionError, DataError, EquationError, InputError,
                     NetworkError, NumericalError, ToolchainError, WorkerError)
from .neuron import Neuron
from .network import Network
from .population import Population
from .projection import DenseProjection
from .sparse_projection import SparseProjection
from .spike_source import SpikeSourceArray
from .monitor import Monitor
from . import models
from .parameter_sweep import sweep
from .nir_export import export_nir
from .nir_import import import_nir

__all__ = [
    "__version__", "Neuron", "Network", "Population", "DenseProjection", "SparseProjection", "SpikeSourceArray",
    "Monitor", "models", "export_nir", "import_nir",
    "AnnsnnError", "BuildError", "ConversionError", "DataError", "EquationError", "InputError",
    "NetworkError", "NumericalError", "ToolchainError", "WorkerError", "ANNtoSNNConverter", "sweep",
]


def __getattr__(name):
    # The converter imports TensorFlow lazily; keep 'import annsnn' light.
    if name == "ANNtoSNNConverter":
        from .conversion import ANNtoSNNConverter
        return ANNtoSNNConverter
    raise AttributeError(f"module 'annsnn' has no attribute '{name}'")
