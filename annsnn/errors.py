"""Exception classes. Each names what is at fault: the line, symbol, layer or file."""
from annsnn.codegen.errors import AnnsnnError, BuildError, EquationError, ToolchainError

__all__ = ["AnnsnnError", "BuildError", "ConversionError", "DataError", "EquationError", "InputError",
           "NetworkError", "NumericalError", "ToolchainError", "WorkerError"]


class NetworkError(AnnsnnError, ValueError):
    """Misuse of the Network / Population / Projection / Monitor front end."""


class InputError(AnnsnnError, ValueError):
    """Data of the wrong shape, type or value (NaN, inf) handed to annsnn."""


class NumericalError(AnnsnnError, FloatingPointError):
    """A state variable became NaN or inf during a checked simulation."""


class ConversionError(AnnsnnError, ValueError):
    """A Keras model (or one of its layers) cannot be converted."""


class DataError(AnnsnnError, ValueError):
    """A data file is missing or malformed."""


class WorkerError(AnnsnnError, RuntimeError):
    """A chunk failed on a Dask worker; the message and ``worker`` name the worker (address, host)."""

    def __init__(self, message, worker=None):
        self.worker = worker
        super().__init__(message)

    def __reduce__(self):  # crosses process boundaries with its worker field intact
        return (WorkerError, (self.args[0], self.worker))
