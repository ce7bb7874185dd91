"""metrics/ uses no test tooling in production: the Inception network is assembled, not
patched into place with unittest.mock (issue 17 item 7). Read from the source, since
importing torch itself loads unittest.mock, so sys.modules cannot tell. That metrics/
imports neither bench/ nor a twin is tests/test_architecture.py's rule."""

import ast
from pathlib import Path

import pytest

METRICS_DIR = Path(__file__).resolve().parent.parent / "metrics"
METRIC_MODULES = sorted(METRICS_DIR.glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names, nested ones too."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_metrics_package_has_modules_to_check() -> None:
    assert {path.stem for path in METRIC_MODULES} >= {"classifier", "fid", "inception"}


@pytest.mark.parametrize("path", METRIC_MODULES, ids=[path.stem for path in METRIC_MODULES])
def test_metric_module_imports_no_unittest(path: Path) -> None:
    forbidden = {name for name in imported_modules(path) if name.split(".")[0] == "unittest"}
    assert not forbidden, f"{path.name} imports {sorted(forbidden)}"
