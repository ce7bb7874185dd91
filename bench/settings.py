"""RunSettings: how each run of a suite trains, times and evaluates, validated once."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from bench.checks import ConfigError, check_choices, check_positive, check_types
from implementations.api import DEVICES
from implementations.spec import PRESETS


@dataclass(frozen=True)
class RunSettings:
    """How each run of a suite trains, times and evaluates: one object, validated once here,
    shared by the Suite and its RunSpecs and handed whole to the worker."""

    device: str = "cpu"  # "cpu" or "cuda"
    steps: int = 300  # training steps per run, warm-up included
    warmup_steps: int = 20  # first steps, untimed: their time is compile_s
    timing_windows: int = 10  # timed steps are split into this many windows (>= 5)
    spec_preset: str = "paper"  # "paper" widths, "half" of them (hidden layers), or "tiny"
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
        validate_settings(self)

    @property
    def uses_deterministic_kernels(self) -> bool:
        """`deterministic`, or the device's default where the suite is silent."""
        if self.deterministic is None:
            return deterministic_default(self.device)
        return self.deterministic


SETTINGS_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(RunSettings))


def deterministic_default(device: str) -> bool:
    """Deterministic kernels by default on the CPU only: free there, slower on a GPU."""
    return device == "cpu"


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


def validate_settings(settings: RunSettings) -> None:
    check_types(settings, SETTINGS_TYPES)
    for name in ("inception_fid", "tf32"):
        if not isinstance(getattr(settings, name), bool):
            raise ConfigError(f"{name} = {getattr(settings, name)!r}; expected true or false")
    if settings.deterministic is not None and not isinstance(settings.deterministic, bool):
        raise ConfigError(f"deterministic = {settings.deterministic!r}; expected true or false")
    cap = settings.max_mem_mb
    if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool)):
        raise ConfigError(f"max_mem_mb = {cap!r}; expected an integer number of MiB")
    check_choices("device", [settings.device], list(DEVICES))
    check_choices("spec_preset", [settings.spec_preset], list(PRESETS))
    check_positive("threads", settings.threads)
    check_positive("timeout_s", settings.timeout_s)
    if settings.timing_windows < 5:
        raise ConfigError(f"timing_windows = {settings.timing_windows}; must be >= 5")
    if settings.warmup_steps < 1:
        raise ConfigError(f"warmup_steps = {settings.warmup_steps}; must be >= 1")
    check_positive("ssl_labels", settings.ssl_labels)
    if not 1 <= settings.eval_points <= settings.timing_windows:
        raise ConfigError(
            f"eval_points = {settings.eval_points}; must be between 1 and timing_windows = "
            f"{settings.timing_windows} (evaluations happen between timing windows)"
        )
    if settings.eval_samples < 2:
        raise ConfigError(f"eval_samples = {settings.eval_samples}; must be >= 2")
    check_steps("steps", settings.steps, settings)
    if settings.max_mem_mb is not None:
        check_positive("max_mem_mb", settings.max_mem_mb)
    budget_s = settings.train_budget_s
    if budget_s is not None:
        if not isinstance(budget_s, int | float) or isinstance(budget_s, bool):
            raise ConfigError(f"train_budget_s = {budget_s!r}; expected a number of seconds")
        if not (math.isfinite(budget_s) and budget_s > 0):
            raise ConfigError(
                f"train_budget_s = {budget_s!r}; must be a finite number of seconds > 0 "
                "(or absent: steps end each run)"
            )


def check_steps(name: str, steps: int, settings: RunSettings) -> None:
    timed_steps = steps - settings.warmup_steps
    if timed_steps < settings.timing_windows:
        raise ConfigError(
            f"{name} = {steps} leaves {timed_steps} timed steps after "
            f"{settings.warmup_steps} warm-up steps; need at least timing_windows = "
            f"{settings.timing_windows}"
        )
