"""The code generator: neuron text → typed spec → C++ kernels → compiled extension.

Installed as ``annsnn.codegen``; the pipeline is parse → integrators →
kernels/printer → render → build.
"""
