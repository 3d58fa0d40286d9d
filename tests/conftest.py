import os
import tempfile

# One build cache for the whole test session (CI starts from an empty one).
os.environ.setdefault("ANNSNN_CACHE_DIR", os.path.join(tempfile.gettempdir(), "annsnn-test-cache"))
