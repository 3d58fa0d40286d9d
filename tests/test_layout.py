"""The layout keeps the generator independent of the front end."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path):
    """Every module a file imports, at top level or inside functions (absolute names)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level >= 2:  # out of codegen, into annsnn
            names.append("annsnn" + ("." + node.module if node.module else ""))
    return names


def test_codegen_imports_nothing_from_the_front_end():
    offenders = {path.name: name for path in (ROOT / "codegen").glob("*.py") for name in imported_modules(path)
                 if name == "annsnn" or (name.startswith("annsnn.") and not name.startswith("annsnn.codegen"))}
    assert not offenders, offenders


def package_import_graph():
    """{module: modules of annsnn it imports}, deferred (in-function) imports included."""
    root = ROOT / "annsnn"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                # `from X import a`: the submodule X.a where a is one, else X itself
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def test_no_import_cycles_in_the_package():
    graph = package_import_graph()
    assert "annsnn.conversion.converter" in graph and graph["annsnn.distributed"]
    cycles = []
    for start in graph:  # a depth-first search from every module for a path back to it
        stack = [(start, [start])]
        seen = set()
        while stack:
            node, path = stack.pop()
            for dep in graph[node]:
                if dep == start:
                    cycles.append(path + [dep])
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, path + [dep]))
    assert not cycles, cycles[:3]
