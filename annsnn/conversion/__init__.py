"""ANN-to-SNN conversion of Keras models (imports Keras only when a model is loaded)."""
from .converter import ANNtoSNNConverter, ENCODINGS
from .readout import READ_OUTS

__all__ = ["ANNtoSNNConverter", "ENCODINGS", "READ_OUTS"]
