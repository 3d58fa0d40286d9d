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
    return names


def test_codegen_imports_nothing_from_the_front_end():
    offenders = {path.name: name for path in (ROOT / "codegen").glob("*.py") for name in imported_modules(path)
                 if name == "annsnn" or (name.startswith("annsnn.") and not name.startswith("annsnn.codegen"))}
    assert not offenders, offenders
