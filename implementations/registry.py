"""(framework, variant) -> builder: the one place that knows what exists.

Builders are registered as "module:function" strings and imported only when a
run builds one, so a torch run never imports tensorflow and vice versa.
Out-of-tree implementations register themselves from a module named in the
GANBENCH_PLUGINS environment variable (comma-separated module names); the
variable is inherited by worker processes, so plugins work in every run.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass

from implementations.api import GAN, BuildOptions
from implementations.spec import GanSpec

FRAMEWORKS: tuple[str, ...] = ("torch", "tf")
# The distributions whose versions a run of each framework records.
FRAMEWORK_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "tf": ("tensorflow", "keras"),
}
# The module each framework's twins import: a framework whose module cannot be found is not
# installed here (TensorFlow is an extra: pip install -e '.[tf]').
FRAMEWORK_MODULES: dict[str, str] = {"torch": "torch", "tf": "tensorflow"}
PLUGINS_ENV = "GANBENCH_PLUGINS"


@dataclass(frozen=True)
class Registration:
    framework: str
    variant: str
    target: str  # "package.module:function", called as function(spec, options)


_REGISTRY: dict[tuple[str, str], Registration] = {}


class UnknownImplementationError(ValueError):
    """A framework or variant name that is not registered."""


class FrameworkNotInstalledError(ValueError):
    """A suite asks for rows of a framework that this machine does not have."""


def register(framework: str, variant: str, target: str) -> None:
    """Add one implementation; duplicates and malformed names are rejected."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}; allowed: {', '.join(FRAMEWORKS)}")
    if not variant.isidentifier():
        raise ValueError(f"variant name {variant!r} must be a Python identifier")
    module, sep, function = target.partition(":")
    if not sep or not module or not function.isidentifier():
        raise ValueError(f"builder target {target!r} must look like 'package.module:function'")
    if (framework, variant) in _REGISTRY:
        raise ValueError(f"{variant}/{framework} is already registered")
    _REGISTRY[(framework, variant)] = Registration(framework, variant, target)


def registrations() -> list[Registration]:
    """Everything registered, sorted by variant then framework."""
    _load_plugins()
    return sorted(_REGISTRY.values(), key=lambda r: (r.variant, FRAMEWORKS.index(r.framework)))


def variants() -> list[str]:
    """Variant names with at least one implementation, in registration order."""
    return list(dict.fromkeys(r.variant for r in registrations()))


def check_names(variant: str | None = None, framework: str | None = None) -> None:
    """Raise UnknownImplementationError naming a bad variant or framework and the allowed ones."""
    if framework is not None and framework not in FRAMEWORKS:
        raise UnknownImplementationError(
            f"unknown framework {framework!r}; allowed: {', '.join(FRAMEWORKS)}"
        )
    if variant is not None and variant not in variants():
        raise UnknownImplementationError(
            f"unknown variant {variant!r}; allowed: {', '.join(variants())}"
        )


def framework_installed(framework: str) -> bool:
    """Whether the framework's module can be imported here; asked without importing it."""
    try:
        return importlib.util.find_spec(FRAMEWORK_MODULES[framework]) is not None
    except ImportError:  # an import hook that refuses the module, or a broken parent
        return False


def check_installed(frameworks: tuple[str, ...]) -> None:
    """Raise FrameworkNotInstalledError naming the first framework asked for but missing."""
    missing = [name for name in frameworks if not framework_installed(name)]
    if not missing:
        return
    present = [name for name in FRAMEWORKS if framework_installed(name)]
    keep = f", or run only {', '.join(present)} with --only {','.join(present)}" if present else ""
    module = FRAMEWORK_MODULES[missing[0]]
    raise FrameworkNotInstalledError(
        f"{module} is not installed: this suite asks for {missing[0]} rows; install it "
        f"(pip install -e '.[{missing[0]}]'){keep}"
    )


def build(framework: str, variant: str, spec: GanSpec, options: BuildOptions) -> GAN:
    """Import the framework's module for this variant and build the implementation."""
    check_names(variant, framework)
    _load_plugins()
    registration = _REGISTRY.get((framework, variant))
    if registration is None:
        have = [r.framework for r in registrations() if r.variant == variant]
        raise UnknownImplementationError(
            f"{variant} has no {framework} implementation; it has: {', '.join(have)}"
        )
    module_name, _, function_name = registration.target.partition(":")
    builder = getattr(importlib.import_module(module_name), function_name)
    return builder(spec, options)


_loaded_plugins: set[str] = set()


def _load_plugins() -> None:
    for name in filter(None, (n.strip() for n in os.environ.get(PLUGINS_ENV, "").split(","))):
        if name not in _loaded_plugins:
            _loaded_plugins.add(name)
            importlib.import_module(name)


BUILT_IN_VARIANTS: tuple[str, ...] = ("vanilla", "conditional", "dcgan", "lsgan", "ssgan")
for _variant in BUILT_IN_VARIANTS:
    for _framework in FRAMEWORKS:
        register(_framework, _variant, f"implementations.{_framework}.{_variant}:build")

# Plugins register at import, after the built-ins, so that everything that
# imports the registry (the worker before it makes a spec) sees them.
_load_plugins()
