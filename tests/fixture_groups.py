"""A pytest plugin: tests that share an expensive module fixture run on one xdist worker.

Under `--dist loadgroup` a module-scoped fixture is computed once per worker that runs one
of its tests, so two tests of one killed suite on two workers killed two suites (52 s and
25 s of setup, 2026-12-04): a hand-written `xdist_group` mark had been left off two of its
four tests. Here every test that asks for a module-scoped fixture of its own module, and has
no `xdist_group` mark of its own, gets the group `MODULE::FIXTURE` (with the fixture's
parameters, `[dcgan]`, where it has them), so that no mark can be forgotten. Loaded by
tests/conftest.py (`pytest_plugins`).
"""

from __future__ import annotations

import pytest


def shared_fixture_group(item: pytest.Item) -> str | None:
    """`MODULE::FIXTURE` for the first (by name) module-scoped fixture the test's own module
    defines and the test uses, with the parameters that fixture depends on (`[dcgan]`: one
    instance per parameter, each its own group); None when it uses none."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    module = item.nodeid.split("::", 1)[0]
    for name in sorted(item.fixturenames):
        definitions = info.name2fixturedefs.get(name) or ()
        if definitions and definitions[-1].scope == "module" and definitions[-1].baseid == module:
            params = getattr(getattr(item, "callspec", None), "params", {})
            used = sorted(n for n in _closure(name, info.name2fixturedefs) if n in params)
            suffix = f"[{'-'.join(str(params[n]) for n in used)}]" if used else ""
            return f"{module}::{name}{suffix}"
    return None


def _closure(name: str, definitions: dict) -> set[str]:
    """The fixture and every fixture it depends on, by name (`request` and the like too)."""
    found, todo = set(), [name]
    while todo:
        current = todo.pop()
        if current in found:
            continue
        found.add(current)
        for definition in definitions.get(current) or ():
            todo.extend(definition.argnames)
    return found


@pytest.hookimpl(tryfirst=True)  # before xdist reads the marks into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            group = shared_fixture_group(item)
            if group is not None:
                item.add_marker(pytest.mark.xdist_group(group))
