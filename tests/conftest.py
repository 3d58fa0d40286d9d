import os
import tempfile

# TensorFlow's C++ INFO start-up notices off in this process and the CLI/example subprocesses it starts
# (warnings and errors still print); annsnn's own import_keras() does the same for users.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")
# One build cache for the whole test session (CI starts from an empty one).
os.environ.setdefault("ANNSNN_CACHE_DIR", os.path.join(tempfile.gettempdir(), "annsnn-test-cache"))
