"""Suites (TOML files) and the RunSpecs they expand into, validated on load.

A suite names what to run (variants x frameworks x seeds x batch sizes x
precisions x compile modes) and how (steps, timing windows, device, time
limit). Every key and value is checked here, so a typo fails in one line
before anything trains, never an hour into a sweep.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.datasets import DATASETS
from implementations.api import COMPILE_MODES, DEVICES, PRECISIONS
from implementations.registry import FRAMEWORKS, variants
from implementations.spec import PRESETS

SUITES_DIR = Path(__file__).parent / "suites"


class ConfigError(ValueError):
    """A suite file or override that names a bad key or value."""


@dataclass(frozen=True)
class RunSettings:
    """How each run of a suite trains, times and evaluates: one object, validated once here,
    shared by the Suite and its RunSpecs and handed whole to the worker."""

    device: str = "cpu"  # "cpu" or "cuda"
    steps: int = 300  # training steps per run, warm-up included
    warmup_steps: int = 20  # first steps, untimed: their time is compile_s
    timing_windows: int = 10  # timed steps are split into this many windows (>= 5)
    spec_preset: str = "paper"  # "paper" widths, or "tiny" for fast checks
    threads: int = 2  # CPU threads per run, set in both frameworks
    ssl_labels: int = 100  # labelled training examples a semi-supervised variant may see
    timeout_s: float = 1800.0  # wall-clock limit of one run, seconds
    # quality: evaluated at eval_points evenly spaced timing-window ends (the last always),
    # each on eval_samples generated images (Goodfellow 2014's Parzen protocol: 10,000)
    eval_points: int = 1
    eval_samples: int = 10_000
    inception_fid: bool = True  # Inception FID when the pytorch-fid weights are present
    tf32: bool = False  # TensorFloat-32 for fp32 matmuls, set alike in both frameworks
    # deterministic kernels only, so one seed gives bit-identical numbers; absent: true on
    # cpu (it costs nothing there), false on cuda (it costs speed; see the README)
    deterministic: bool | None = None
    # memory cap of one run, MiB (absent: none); an allocation past it fails and the row is
    # "oom" (bench/memory.py memory_cap says what is counted)
    max_mem_mb: int | None = None
    # training seconds per run (warm-up included, evaluations not) that end it instead of
    # `steps`; absent: steps end it (the default: steps are bit-reproducible on CPU, time is
    # not). Windows then end at equal shares of the budget, so evaluations fall at fixed times.
    train_budget_s: float | None = None

    def __post_init__(self) -> None:
        _validate_settings(self)

    @property
    def uses_deterministic_kernels(self) -> bool:
        """`deterministic`, or the device's default where the suite is silent."""
        if self.deterministic is None:
            return deterministic_default(self.device)
        return self.deterministic


SETTINGS_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunSettings))


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
        """The suite's settings, with the variant's own step count where it has one."""
        if variant not in self.variant_steps:
            return self.settings
        return dataclasses.replace(self.settings, steps=self.variant_steps[variant])

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

    suite: str
    variant: str
    framework: str
    dataset: str
    seed: int
    batch_size: int
    precision: str
    compile: str
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


def deterministic_default(device: str) -> bool:
    """Deterministic kernels by default on the CPU only: free there, slower on a GPU."""
    return device == "cpu"


def default_cache_dir() -> Path:
    """Where reference classifiers are cached: GANBENCH_CACHE_DIR, else ~/.cache/ganbench."""
    return Path(os.environ.get("GANBENCH_CACHE_DIR", "~/.cache/ganbench")).expanduser()


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def _validate_settings(settings: RunSettings) -> None:
    _check_types(settings, SETTINGS_TYPES)
    for name in ("inception_fid", "tf32"):
        if not isinstance(getattr(settings, name), bool):
            raise ConfigError(f"{name} = {getattr(settings, name)!r}; expected true or false")
    if settings.deterministic is not None and not isinstance(settings.deterministic, bool):
        raise ConfigError(f"deterministic = {settings.deterministic!r}; expected true or false")
    cap = settings.max_mem_mb
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool)):
        raise ConfigError(f"max_mem_mb = {cap!r}; expected an integer number of MiB")
    _check_choices("device", [settings.device], list(DEVICES))
    _check_choices("spec_preset", [settings.spec_preset], list(PRESETS))
    _check_positive("threads", settings.threads)
    _check_positive("timeout_s", settings.timeout_s)
    if settings.timing_windows < 5:
        raise ConfigError(f"timing_windows = {settings.timing_windows}; must be >= 5")
    if settings.warmup_steps < 1:
        raise ConfigError(f"warmup_steps = {settings.warmup_steps}; must be >= 1")
    _check_positive("ssl_labels", settings.ssl_labels)
    if not 1 <= settings.eval_points <= settings.timing_windows:
        raise ConfigError(
            f"eval_points = {settings.eval_points}; must be between 1 and timing_windows = "
            f"{settings.timing_windows} (evaluations happen between timing windows)"
        )
    if settings.eval_samples < 2:
        raise ConfigError(f"eval_samples = {settings.eval_samples}; must be >= 2")
    _check_steps("steps", settings.steps, settings)
    if settings.max_mem_mb is not None:
        _check_positive("max_mem_mb", settings.max_mem_mb)
    budget_s = settings.train_budget_s
    if budget_s is not None:
        if not isinstance(budget_s, int | float) or isinstance(budget_s, bool):
            raise ConfigError(f"train_budget_s = {budget_s!r}; expected a number of seconds")
        if not (math.isfinite(budget_s) and budget_s > 0):
            raise ConfigError(
                f"train_budget_s = {budget_s!r}; must be a finite number of seconds > 0 "
                "(or absent: steps end each run)"
            )


def _validate(suite: Suite) -> None:
    if not isinstance(suite.settings, RunSettings):
        raise ConfigError(f"settings = {suite.settings!r}; expected a RunSettings")
    _check_types(suite, SUITE_TYPES)
    _check_tuple_types(suite)
    _check_choices("dataset", [suite.dataset], list(DATASETS))
    if suite.fallback_dataset:
        _check_choices("fallback_dataset", [suite.fallback_dataset], list(DATASETS))
    _check_choices("variants", list(suite.variants), variants())
    _check_choices("frameworks", list(suite.frameworks), list(FRAMEWORKS))
    _check_choices("precisions", list(suite.precisions), list(PRECISIONS))
    _check_choices("compile_modes", list(suite.compile_modes), list(COMPILE_MODES))
    _check_framework_compile_modes(suite.framework_compile_modes)
    for name in ("frameworks", "seeds", "batch_sizes", "precisions", "compile_modes"):
        if not getattr(suite, name):
            raise ConfigError(f"{name} is empty; give at least one value")
    if any(b <= 0 for b in suite.batch_sizes):
        raise ConfigError(f"batch_sizes {list(suite.batch_sizes)}: each must be > 0")
    if any(s < 0 for s in suite.seeds):
        raise ConfigError(f"seeds {list(suite.seeds)}: each must be >= 0")
    _check_choices("variant_steps", list(suite.variant_steps), variants())
    if suite.max_retries < 0:
        raise ConfigError(f"max_retries = {suite.max_retries}; must be >= 0")
    for name, steps in suite.variant_steps.items():
        _check_steps(name, steps, suite.settings)
    if not is_plain_name(suite.name):
        raise ConfigError(
            f"suite name {suite.name!r} must be a plain folder name: no '/' or '\\', no "
            "leading '.', no control characters (it names the folder results/<name>)"
        )


def _check_steps(name: str, steps: int, settings: RunSettings) -> None:
    timed_steps = steps - settings.warmup_steps
    if timed_steps < settings.timing_windows:
        raise ConfigError(
            f"{name} = {steps} leaves {timed_steps} timed steps after "
            f"{settings.warmup_steps} warm-up steps; need at least timing_windows = "
            f"{settings.timing_windows}"
        )


def _check_framework_compile_modes(modes: dict[str, list[str]]) -> None:
    _check_choices("framework_compile_modes", list(modes), list(FRAMEWORKS))
    for framework, names in modes.items():
        key = f"framework_compile_modes.{framework}"
        if not isinstance(names, list | tuple) or not names:
            raise ConfigError(f"{key} = {names!r}; expected a non-empty list of compile modes")
        if any(not isinstance(name, str) for name in names):
            raise ConfigError(f"{key} = {list(names)!r}; expected a list of str")
        _check_choices(key, list(names), list(COMPILE_MODES))


def is_plain_name(name: str) -> bool:
    """A name that stays one folder below its parent: not absolute, no '..', no separator."""
    return (
        bool(name)
        and name.isprintable()
        and not name.startswith(".")
        and not any(separator in name for separator in ("/", "\\"))
        and Path(name).name == name
    )


SETTINGS_TYPES: dict[str, type | tuple[type, ...]] = {
    "device": str,
    "spec_preset": str,
    "steps": int,
    "warmup_steps": int,
    "timing_windows": int,
    "threads": int,
    "ssl_labels": int,
    "timeout_s": (int, float),
    "eval_points": int,
    "eval_samples": int,
}
SUITE_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "description": str,
    "dataset": str,
    "fallback_dataset": str,
    "max_retries": int,
    "variant_steps": dict,
    "framework_compile_modes": dict,
}


def _check_types(values: object, expected: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in expected.items():
        value = getattr(values, name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise ConfigError(f"{name} = {value!r}; expected {_type_name(kind)}")


def _check_tuple_types(suite: Suite) -> None:
    if any(not isinstance(v, int) or isinstance(v, bool) for v in suite.variant_steps.values()):
        raise ConfigError(f"variant_steps = {suite.variant_steps!r}; expected integer steps")
    element: dict[str, type] = {"seeds": int, "batch_sizes": int}
    for name in TUPLE_FIELDS:
        value = getattr(suite, name)
        if not isinstance(value, tuple):
            raise ConfigError(f"{name} = {value!r}; expected a list")
        kind = element.get(name, str)
        if any(not isinstance(v, kind) or isinstance(v, bool) for v in value):
            raise ConfigError(f"{name} = {list(value)!r}; expected a list of {kind.__name__}")


def _type_name(kind: type | tuple[type, ...]) -> str:
    if isinstance(kind, tuple):
        return " or ".join(k.__name__ for k in kind)
    return kind.__name__


def _check_choices(name: str, values: list[str], allowed: list[str]) -> None:
    for value in values:
        if value not in allowed:
            raise ConfigError(f"{name}: unknown value {value!r}; allowed: {', '.join(allowed)}")


def _check_positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} = {value}; must be > 0")
