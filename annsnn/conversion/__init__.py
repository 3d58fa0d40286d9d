"""ANN-to-SNN conversion."""
