"""Content-hashed build cache: hash → lock → cythonize + compile → import.

An entry ``<cache>/<module name>/`` holds the sources, the extension and a
``BUILD_OK`` marker written last. The key covers the sources, the flags and
the versions of Python, Cython, NumPy, the compiler and the CPU (the code is
built with -march=native), so a shared cache never hands out a wrong binary.
"""
import functools
import hashlib
import importlib.machinery
import importlib.util
import logging
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy

from .errors import BuildError, ToolchainError

log = logging.getLogger("annsnn.build")

# -fno-trapping-math lets GCC if-convert a select whose other arm is arithmetic (a variable held during a
# refractory period), so such update loops vectorise; nothing relies on floating-point traps.
CXX_FLAGS = ("-O3", "-march=native", "-fopenmp", "-ffp-contract=off", "-fno-math-errno", "-fno-trapping-math", "-std=c++17",
             "-fPIC", "-shared", "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-Wno-unused-function")
MARKER = "BUILD_OK"
OUTPUT_TAIL_LINES = 30


@dataclass(frozen=True)
class BuildInfo:
    key: str
    module_name: str
    directory: str
    compiled: bool        # False for a cache hit
    seconds: float        # wall time of this build or load


def cache_root():
    """``$ANNSNN_CACHE_DIR`` or ``~/.cache/annsnn``; a temporary directory if that is not writable."""
    root = Path(os.environ.get("ANNSNN_CACHE_DIR") or Path.home() / ".cache" / "annsnn").expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        probe.write_text("")
        probe.unlink()
        return root
    except OSError as exc:
        fallback = Path(tempfile.gettempdir()) / f"annsnn-cache-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        warnings.warn(f"annsnn: cache directory {root} is not writable ({exc.strerror}); using {fallback}",
                      RuntimeWarning, stacklevel=3)
        return fallback


def find_compiler():
    candidates = [os.environ.get("CXX"), "c++", "g++", "clang++"]
    for name in filter(None, candidates):
        path = shutil.which(name)
        if path:
            return path
    raise ToolchainError("no C++ compiler found (looked for $CXX, c++, g++, clang++). annsnn compiles "
                         "its kernels at run time: install one, e.g. 'apt-get install g++'.")


@functools.lru_cache(maxsize=None)
def compiler_identity(compiler):
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=60)
    except OSError as exc:
        raise ToolchainError(f"cannot run the C++ compiler {compiler}: {exc}") from None
    return out.stdout.splitlines()[0] if out.stdout else compiler


@functools.lru_cache(maxsize=1)
def cpu_identity():
    """Model name and feature flags: a binary built with -march=native runs only where they match."""
    try:
        text = Path("/proc/cpuinfo").read_text()
        lines = [l for l in text.splitlines() if l.startswith(("model name", "flags", "Features"))][:2]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
    except OSError:
        return platform.processor() or platform.machine()


def compiler_flags():
    """The fixed flags plus any from ``$ANNSNN_CXXFLAGS`` (they take part in the cache key)."""
    return CXX_FLAGS + tuple(os.environ.get("ANNSNN_CXXFLAGS", "").split())


def _cython():
    try:
        import Cython
        from Cython.Compiler import Main
    except ImportError:
        raise ToolchainError("Cython is needed at run time to build the kernels: 'pip install cython'") from None
    return Cython.__version__, Main


def build_key(sources, compiler):
    cython_version, _ = _cython()
    digest = hashlib.sha256()
    # the sources carry the templates and the generator's version line, so they stand for both
    parts = [sys.version, platform.machine(), cython_version, numpy.__version__,
             compiler_identity(compiler), cpu_identity(), " ".join(compiler_flags())]
    parts += [f"{name}\n{text}" for name, text in sorted(sources.items())]
    for part in parts:
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def _import(module_name, so_path):
    if module_name in sys.modules:
        return sys.modules[module_name]
    loader = importlib.machinery.ExtensionFileLoader(module_name, str(so_path))
    spec = importlib.util.spec_from_file_location(module_name, so_path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    sys.modules[module_name] = module
    return module


def _compile(sources, module_name, workdir, compiler):
    """Write, cythonize and compile into ``workdir``; returns the extension path."""
    _, cython_main = _cython()
    for name, text in sources.items():
        target = "%s.pyx" % module_name if name == "module.pyx" else name
        (workdir / target).write_text(text)
    pyx = workdir / f"{module_name}.pyx"
    cpp = workdir / f"{module_name}.cpp"
    options = cython_main.CompilationOptions(cplus=True, language_level=3, output_file=str(cpp), quiet=True)
    try:
        result = cython_main.compile(str(pyx), options)
    except Exception as exc:  # Cython reports errors by raising many kinds
        raise BuildError(f"Cython failed on the generated module: {exc}", source_dir=str(workdir)) from None
    if getattr(result, "num_errors", 0):
        raise BuildError("Cython reported errors in the generated module", source_dir=str(workdir))
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        raise ToolchainError(f"Python development headers not found in {include}: install python3-dev")
    so_path = workdir / (module_name + sysconfig.get_config_var("EXT_SUFFIX"))
    command = [compiler, *compiler_flags(), f"-I{workdir}", f"-I{include}", str(cpp), "-o", str(so_path)]
    proc = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-OUTPUT_TAIL_LINES:])
        raise BuildError(f"the C++ compiler failed (exit {proc.returncode}) on network sources",
                         source_dir=str(workdir), output=tail)
    return so_path


def _entry_is_complete(entry, module_name):
    return (entry / MARKER).exists() and any(entry.glob(module_name + "*.so"))


def build_module(sources, label="network"):
    """Return (module, BuildInfo) for these sources, compiling only on a cache miss."""
    from filelock import FileLock

    started = time.perf_counter()
    compiler = find_compiler()
    key = build_key(sources, compiler)
    module_name = f"annsnn_{label}_{key[:20]}"
    if module_name in sys.modules:
        return sys.modules[module_name], BuildInfo(key, module_name, "", False, time.perf_counter() - started)
    root = cache_root()
    entry = root / module_name
    with FileLock(str(root / f"{module_name}.lock")):
        if _entry_is_complete(entry, module_name):
            try:
                module = _import(module_name, next(entry.glob(module_name + "*.so")))
                log.info("cache hit %s", entry)
                return module, BuildInfo(key, module_name, str(entry), False, time.perf_counter() - started)
            except (ImportError, OSError) as exc:
                warnings.warn(f"annsnn: cached module {entry} cannot be loaded ({exc}); rebuilding",
                              RuntimeWarning, stacklevel=2)
        elif entry.exists():
            warnings.warn(f"annsnn: incomplete cache entry {entry} (an interrupted build?); rebuilding",
                          RuntimeWarning, stacklevel=2)
        workdir = root / f"{module_name}.build-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        workdir.mkdir()
        log.info("compiling %s in %s", module_name, workdir)
        so_path = _compile(sources, module_name, workdir, compiler)
        (workdir / MARKER).write_text(key)
        shutil.rmtree(entry, ignore_errors=True)
        os.replace(workdir, entry)
        module = _import(module_name, entry / so_path.name)
    return module, BuildInfo(key, module_name, str(entry), True, time.perf_counter() - started)
