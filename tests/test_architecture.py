"""The import rules of docs/architecture.md, read from the source with `ast`.

- a twin imports only its own framework: implementations/torch never tensorflow or keras,
  implementations/tf never torch, and neither the other twin's package;
- metrics/ imports neither bench/ nor implementations/ (metrics know no harness);
- reports/ imports no framework and no implementation;
- the harness (bench/) reaches implementations only through implementations.registry,
  .api and .spec, never a twin module;
- the framework-neutral parts of implementations/ (api, spec, registry) import no
  framework, since the driver imports them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FRAMEWORKS = {"torch": ("torch",), "tf": ("tensorflow", "keras")}
IMPLEMENTATION_GATEWAYS = (
    "implementations.registry",
    "implementations.api",
    "implementations.spec",
)
# Known violations, each to be removed by the change that fixes it (none may be added):
ALLOWED: set[tuple[str, str]] = set()


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (function-local imports included)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from a import b" is recorded as a.b (b a submodule or a name in a): a rule on
            # package a matches it, and "from implementations import registry" is the gateway
            names += [f"{node.module}.{alias.name}" for alias in node.names]
    return names


def violations(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list:
    """(file, module) for every import under `folder` of a forbidden package."""
    found = []
    for path in sorted((REPO_ROOT / folder).rglob("*.py")):
        relative = path.relative_to(REPO_ROOT).as_posix()
        for module in imported_modules(path):
            hit = any(module == f or module.startswith(f"{f}.") for f in forbidden)
            exempt = any(module == a or module.startswith(f"{a}.") for a in allowed)
            if hit and not exempt and (relative, module) not in ALLOWED:
                found.append((relative, module))
    return found


@pytest.mark.parametrize("twin, other", [("torch", "tf"), ("tf", "torch")])
def test_a_twin_imports_only_its_own_framework(twin, other):
    forbidden = (*FRAMEWORKS[other], f"implementations.{other}")
    assert violations(f"implementations/{twin}", forbidden) == []


def test_metrics_import_neither_the_harness_nor_an_implementation():
    assert violations("metrics", ("bench", "implementations")) == []


def test_reports_import_no_framework_and_no_implementation():
    forbidden = (*FRAMEWORKS["torch"], *FRAMEWORKS["tf"], "implementations")
    assert violations("reports", forbidden) == []


def test_the_harness_reaches_implementations_only_through_registry_api_and_spec():
    assert violations("bench", ("implementations",), allowed=IMPLEMENTATION_GATEWAYS) == []


def test_the_neutral_parts_of_implementations_import_no_framework():
    forbidden = (
        *FRAMEWORKS["torch"],
        *FRAMEWORKS["tf"],
        "implementations.torch",
        "implementations.tf",
    )
    found = [
        hit
        for name in ("api", "spec", "registry")
        for hit in violations_in(REPO_ROOT / "implementations" / f"{name}.py", forbidden)
    ]
    assert found == []


def violations_in(path: Path, forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    return [
        (path.name, module)
        for module in imported_modules(path)
        if any(module == f or module.startswith(f"{f}.") for f in forbidden)
    ]


def test_the_known_violations_are_still_there():
    """An allow-list entry that no longer matches must go, so the list only shrinks."""
    for relative, module in ALLOWED:
        assert module in imported_modules(REPO_ROOT / relative), (relative, module)
