"""Build cache: content hash, new-process cache hit, compiler errors, missing tools, damaged entries."""
import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

import annsnn
from annsnn import BuildError, ToolchainError, models
from annsnn.codegen import build

SCRIPT = textwrap.dedent("""
    import sys, annsnn
    from annsnn import models
    net = annsnn.Network(batch_size=2, name=sys.argv[1])
    a = net.create(5, models.Poisson, name="a")
    b = net.create(3, models.IaF, name="b")
    net.connect(a, b, "exc", 0.5)
    info = net.compile()
    print("COMPILED" if info.compiled else "CACHE_HIT", info.directory)
""")


def run_in_new_process(name, env, with_stderr=False):
    out = subprocess.run([sys.executable, "-c", SCRIPT, name], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.split() + ([out.stderr] if with_stderr else [])


def test_second_process_compiles_nothing(tmp_path):
    env = dict(os.environ, ANNSNN_CACHE_DIR=str(tmp_path / "cache"))
    name = f"cache_test_{uuid.uuid4().hex[:8]}"
    first, first_dir = run_in_new_process(name, env)
    second, second_dir = run_in_new_process(name, env)
    assert (first, second) == ("COMPILED", "CACHE_HIT") and first_dir == second_dir
    assert (Path(first_dir) / "network.hpp").exists(), "generated sources are kept beside the module"


def test_key_depends_on_sources():
    compiler = build.find_compiler()
    a = build.build_key({"network.hpp": "int a;", "module.pyx": ""}, compiler)
    b = build.build_key({"network.hpp": "int b;", "module.pyx": ""}, compiler)
    assert a != b and a == build.build_key({"network.hpp": "int a;", "module.pyx": ""}, compiler)


def test_compiler_error_raises_build_error_with_tail(tmp_path, monkeypatch):
    monkeypatch.setenv("ANNSNN_CACHE_DIR", str(tmp_path))
    net = annsnn.Network(name=f"broken_{uuid.uuid4().hex[:6]}")
    net.create(2, models.IaF)
    sources = net.generate()
    sources["network.hpp"] = sources["network.hpp"].replace("const float t_now", "const flot t_now", 1)
    with pytest.raises(BuildError) as info:
        build.build_module(sources)
    assert "flot" in info.value.output and Path(info.value.source_dir).is_dir()
    assert "generated sources kept in" in str(info.value)


def test_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CXX", "definitely-not-a-compiler")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolchainError, match="install"):
        build.find_compiler()


def test_missing_cython_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "Cython", None)
    with pytest.raises(ToolchainError, match="pip install cython"):
        build._cython()


def test_corrupt_and_half_written_entries_are_rebuilt(tmp_path):
    # A fresh process each time: a process that loaded a module keeps it mapped.
    env = dict(os.environ, ANNSNN_CACHE_DIR=str(tmp_path / "cache"), PYTHONWARNINGS="always")
    name = f"damaged_{uuid.uuid4().hex[:8]}"
    _, entry, _ = run_in_new_process(name, env, with_stderr=True)
    (Path(entry) / build.MARKER).unlink()  # as if the build had been killed before finishing
    status, _, stderr = run_in_new_process(name, env, with_stderr=True)
    assert status == "COMPILED" and "incomplete cache entry" in stderr
    next(Path(entry).glob("*.so")).write_bytes(b"not an elf file")
    status, _, stderr = run_in_new_process(name, env, with_stderr=True)
    assert status == "COMPILED" and "cannot be loaded" in stderr
    assert run_in_new_process(name, env)[0] == "CACHE_HIT"


def test_unwritable_cache_falls_back_with_warning(tmp_path, monkeypatch):
    # A path below a regular file cannot be created, even by root (chmod does not stop root).
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ANNSNN_CACHE_DIR", str(blocker / "cache"))
    with pytest.warns(RuntimeWarning, match="not writable"):
        root = build.cache_root()
    assert root.is_dir() and os.access(root, os.W_OK)
