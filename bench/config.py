"""Suites (TOML files) and the RunSpecs they expand into, validated on load.

A suite names what to run (variants x frameworks x seeds x batch sizes x
precisions x compile modes) and how (steps, timing windows, device, time
limit). Every key and value is checked here, so a typo fails in one line
before anything trains, never an hour into a sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.checks import ConfigError, check_choices, check_positive, check_types
from bench.datasets import DATASETS
from bench.settings import (
    SETTINGS_FIELDS,
    RunSettings,
    check_steps,
    deterministic_default,
)
from implementations.api import COMPILE_MODES, PRECISIONS
from implementations.registry import FRAMEWORKS, variants
from implementations.spec import PRESETS

SUITES_DIR = Path(__file__).parent / "suites"


@dataclass(frozen=True)
class Suite:
    """One suite file: what to run (the cross product) and how (its RunSettings).

    The file is flat; `suite_from_dict` sorts its keys into the suite and its settings.
    """

    name: str  # also the default output folder: results/<name>
    description: str = ""
    dataset: str = "digits"  # one of bench.datasets.DATASETS
    # used, with a note, when `dataset` can be neither read nor fetched ("" = fail instead)
    fallback_dataset: str = ""
    variants: tuple[str, ...] = ()  # empty: every registered variant
    frameworks: tuple[str, ...] = FRAMEWORKS
    seeds: tuple[int, ...] = (0,)
    batch_sizes: tuple[int, ...] = (64,)  # images per training step
    precisions: tuple[str, ...] = ("fp32",)
    compile_modes: tuple[str, ...] = ("default",)  # "default", "compiled", "cudagraphs"
    # per-framework compile modes that replace `compile_modes`, e.g. {tf = ["default"]}
    framework_compile_modes: dict[str, list[str]] = field(default_factory=dict)
    # per-variant step counts that replace `steps`, e.g. {dcgan = 60} for slow convolutional nets
    variant_steps: dict[str, int] = field(default_factory=dict)
    # per-variant spec presets that replace `spec_preset`, e.g. {dcgan = "half"}: what one
    # step costs differs 10x between variants, and a time budget is spent where it helps
    variant_presets: dict[str, str] = field(default_factory=dict)
    # per-variant time limits that replace `timeout_s`, e.g. {dcgan = 1800}: one limit that
    # fits the slowest variant would let a hung fast one wait as long
    variant_timeout_s: dict[str, float] = field(default_factory=dict)
    # --executor ray: times a run is started again when its node or worker died (a run that
    # raised is never retried: it is a failed row)
    max_retries: int = 2
    settings: RunSettings = field(default_factory=RunSettings)

    def __post_init__(self) -> None:
        _validate(self)

    def with_changes(self, **changes: Any) -> Suite:
        """This suite with some keys replaced, each in the suite or its settings, re-validated."""
        settings = {k: v for k, v in changes.items() if k in SETTINGS_FIELDS}
        own = {k: v for k, v in changes.items() if k not in SETTINGS_FIELDS}
        return dataclasses.replace(
            self, settings=dataclasses.replace(self.settings, **settings), **own
        )

    def settings_for(self, variant: str) -> RunSettings:
        """The suite's settings, with the variant's own steps, preset and time limit where it
        has them."""
        own: dict[str, Any] = {}
        if variant in self.variant_steps:
            own["steps"] = self.variant_steps[variant]
        if variant in self.variant_presets:
            own["spec_preset"] = self.variant_presets[variant]
        if variant in self.variant_timeout_s:
            own["timeout_s"] = self.variant_timeout_s[variant]
        return dataclasses.replace(self.settings, **own) if own else self.settings

    def run_specs(
        self,
        data_dir: str | None = None,
        fid_weights: str | None = None,
        cache_dir: str | None = None,
    ) -> list[RunSpec]:
        """The cross product this suite names, in a stable order.

        data_dir, fid_weights and cache_dir say where files are on this machine; they are
        not part of a run's identity.
        """
        chosen = self.variants or tuple(variants())
        return [
            RunSpec(
                suite=self.name,
                variant=variant,
                framework=framework,
                dataset=self.dataset,
                seed=seed,
                batch_size=batch_size,
                precision=precision,
                compile=compile_mode,
                settings=self.settings_for(variant),
                data_dir=data_dir,
                fid_weights=fid_weights,
                cache_dir=cache_dir,
            )
            for variant, framework, batch_size, precision, compile_mode, seed in self._combinations(
                chosen
            )
        ]

    def _combinations(self, chosen: tuple[str, ...]) -> list[tuple[str, str, int, str, str, int]]:
        """(variant, framework, batch, precision, compile mode, seed), each framework with its
        own compile modes where framework_compile_modes names it."""
        return [
            (variant, framework, *rest)
            for variant, framework in itertools.product(chosen, self.frameworks)
            for rest in itertools.product(
                self.batch_sizes,
                self.precisions,
                self.framework_compile_modes.get(framework, self.compile_modes),
                self.seeds,
            )
        ]


@dataclass(frozen=True)
class RunSpec:
    """Everything one run needs; it travels to the worker process as JSON."""

    # the implementation, in the order of bench.results.Identity (device: in settings)
    variant: str
    framework: str
    dataset: str
    precision: str
    compile: str
    batch_size: int
    # which repeat, and of which suite
    seed: int
    suite: str
    settings: RunSettings
    data_dir: str | None = None
    fid_weights: str | None = None  # the Inception weights file; None: the torch hub cache
    cache_dir: str | None = None  # reference classifiers; None: GANBENCH_CACHE_DIR or ~/.cache

    @property
    def run_id(self) -> str:
        """A file-safe name that is the same whenever the same run is asked for."""
        settings = self.settings
        return (
            f"{self.variant}-{self.framework}-{self.dataset}-{settings.device}-{self.precision}"
            f"-{self.compile}-b{self.batch_size}-n{settings.steps}-{settings.spec_preset}"
            f"-l{settings.ssl_labels}-e{settings.eval_samples}"
            f"{'-tf32' if settings.tf32 else ''}{self._determinism_tag}{self._budget_tag}"
            f"-s{self.seed}"
        )

    @property
    def _budget_tag(self) -> str:
        """In the run_id only with a training-time budget, so step-count ids stay stable."""
        budget_s = self.settings.train_budget_s
        return "" if budget_s is None else f"-t{budget_s:g}s"

    @property
    def _determinism_tag(self) -> str:
        """In the run_id only when it differs from the device's default, so ids stay stable."""
        settings = self.settings
        if settings.uses_deterministic_kernels == deterministic_default(settings.device):
            return ""
        return "-det" if settings.uses_deterministic_kernels else "-nondet"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunSpec:
        return cls(**{**values, "settings": RunSettings(**values["settings"])})


TUPLE_FIELDS = {f.name for f in dataclasses.fields(Suite) if str(f.type).startswith("tuple")}


def load_suite(name_or_path: str) -> Suite:
    """A suite by name (bench/suites/NAME.toml) or by the path of a TOML file."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(
                f"unknown suite {name_or_path!r}; allowed: {', '.join(suite_names())} "
                "(or the path of a .toml file)"
            )
    elif not path.is_file():
        raise ConfigError(f"suite file {path} not found")
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"suite file {path}: TOML syntax error: {error}") from error
    values.setdefault("name", path.stem)
    return suite_from_dict(values, source=str(path))


def suite_from_dict(values: dict[str, Any], source: str = "suite") -> Suite:
    """A Suite from plain values (a parsed TOML file), every key and type checked."""
    allowed = [f.name for f in dataclasses.fields(Suite) if f.name != "settings"]
    allowed[-1:-1] = SETTINGS_FIELDS  # the file's order: settings before max_retries
    for key in values:
        if key not in allowed:
            raise ConfigError(f"{source}: unknown key {key!r}; allowed: {', '.join(allowed)}")
    converted = {
        key: tuple(value) if key in TUPLE_FIELDS and isinstance(value, list) else value
        for key, value in values.items()
    }
    settings = {k: v for k, v in converted.items() if k in SETTINGS_FIELDS}
    own = {k: v for k, v in converted.items() if k not in SETTINGS_FIELDS}
    try:
        return Suite(**own, settings=RunSettings(**settings))
    except ConfigError as error:
        raise ConfigError(f"{source}: {error}") from None


def default_cache_dir() -> Path:
    """Where reference classifiers are cached: GANBENCH_CACHE_DIR, else ~/.cache/ganbench."""
    return Path(os.environ.get("GANBENCH_CACHE_DIR", "~/.cache/ganbench")).expanduser()


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def _validate(suite: Suite) -> None:
    if not isinstance(suite.settings, RunSettings):
        raise ConfigError(f"settings = {suite.settings!r}; expected a RunSettings")
    check_types(suite, SUITE_TYPES)
    _check_tuple_types(suite)
    check_choices("dataset", [suite.dataset], list(DATASETS))
    if suite.fallback_dataset:
        check_choices("fallback_dataset", [suite.fallback_dataset], list(DATASETS))
    check_choices("variants", list(suite.variants), variants())
    check_choices("frameworks", list(suite.frameworks), list(FRAMEWORKS))
    check_choices("precisions", list(suite.precisions), list(PRECISIONS))
    check_choices("compile_modes", list(suite.compile_modes), list(COMPILE_MODES))
    _check_framework_compile_modes(suite.framework_compile_modes)
    for name in ("frameworks", "seeds", "batch_sizes", "precisions", "compile_modes"):
        if not getattr(suite, name):
            raise ConfigError(f"{name} is empty; give at least one value")
    if any(b <= 0 for b in suite.batch_sizes):
        raise ConfigError(f"batch_sizes {list(suite.batch_sizes)}: each must be > 0")
    if any(s < 0 for s in suite.seeds):
        raise ConfigError(f"seeds {list(suite.seeds)}: each must be >= 0")
    check_choices("variant_steps", list(suite.variant_steps), variants())
    check_choices("variant_presets", list(suite.variant_presets), variants())
    check_choices("variant_timeout_s", list(suite.variant_timeout_s), variants())
    for name, timeout_s in suite.variant_timeout_s.items():
        check_positive(f"variant_timeout_s.{name}", timeout_s)
    for name, preset in suite.variant_presets.items():
        check_choices(f"variant_presets.{name}", [preset], list(PRESETS))
    if suite.max_retries < 0:
        raise ConfigError(f"max_retries = {suite.max_retries}; must be >= 0")
    for name, steps in suite.variant_steps.items():
        check_steps(name, steps, suite.settings)
    if not is_plain_name(suite.name):
        raise ConfigError(
            f"suite name {suite.name!r} must be a plain folder name: no '/' or '\\', no "
            "leading '.', no control characters (it names the folder results/<name>)"
        )


def _check_framework_compile_modes(modes: dict[str, list[str]]) -> None:
    check_choices("framework_compile_modes", list(modes), list(FRAMEWORKS))
    for framework, names in modes.items():
        key = f"framework_compile_modes.{framework}"
        if not isinstance(names, list | tuple) or not names:
            raise ConfigError(f"{key} = {names!r}; expected a non-empty list of compile modes")
        if any(not isinstance(name, str) for name in names):
            raise ConfigError(f"{key} = {list(names)!r}; expected a list of str")
        check_choices(key, list(names), list(COMPILE_MODES))


def is_plain_name(name: str) -> bool:
    """A name that stays one folder below its parent: not absolute, no '..', no separator."""
    return (
        bool(name)
        and name.isprintable()
        and not name.startswith(".")
        and not any(separator in name for separator in ("/", "\\"))
        and Path(name).name == name
    )


SUITE_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "dataset": str,
    "fallback_dataset": str,
    "max_retries": int,
    "variant_steps": dict,
    "variant_presets": dict,
    "variant_timeout_s": dict,
    "framework_compile_modes": dict,
}


def _check_tuple_types(suite: Suite) -> None:
    if any(not isinstance(v, int) or isinstance(v, bool) for v in suite.variant_steps.values()):
        raise ConfigError(f"variant_steps = {suite.variant_steps!r}; expected integer steps")
    if any(
        not isinstance(v, int | float) or isinstance(v, bool)
        for v in suite.variant_timeout_s.values()
    ):
        raise ConfigError(
            f"variant_timeout_s = {suite.variant_timeout_s!r}; expected seconds (numbers)"
        )
    element: dict[str, type] = {"seeds": int, "batch_sizes": int}
    for name in TUPLE_FIELDS:
        value = getattr(suite, name)
        if not isinstance(value, tuple):
            raise ConfigError(f"{name} = {value!r}; expected a list")
        kind = element.get(name, str)
        if any(not isinstance(v, kind) or isinstance(v, bool) for v in value):
            raise ConfigError(f"{name} = {list(value)!r}; expected a list of {kind.__name__}")
