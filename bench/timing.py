"""Training throughput, measured the way a GPU benchmark must be.

- Warm-up steps come first and are not timed as training: their wall time is
  `compile_s` (tracing, compilation, allocator and cache warm-up).
- Timed steps run in windows. A window's batches are staged on the device
  before the clock starts, and the device is synchronised before the clock is
  read at both ends, so a window measures training, not host-to-device copies
  or queued-but-unfinished work. Staging holds at most STAGED_BYTES_MAX of
  images at once: a longer window is staged and timed in chunks, and its time
  is the sum of its chunks' (a 1,000,000-step run once staged 40 GB and was
  killed by the kernel).
- Nothing is read back from the device inside a window: losses stay device
  scalars until the window has ended, then they are read for the history and
  checked for NaN/inf (the exact step is known).
- images/s is the median over windows; step_ms p50/p90 are percentiles of
  the windows' mean step times. Per-step times would need a device sync per
  step, which would itself change a GPU's throughput.
- With a training-time budget (the suite's `train_budget_s`) the run ends by the
  training clock instead of a step count: each window is sized, from the step
  time of the one before, to end at its share of the budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from implementations.api import GAN, StepLosses

# Images staged on the device at once: 256 MiB is ~1,300 digits batches of 64 (fp32 28x28).
STAGED_BYTES_MAX = 256 * 2**20

Batch = tuple[np.ndarray, np.ndarray, np.ndarray]  # images, labels, labelled_mask (host)
ProgressCallback = Callable[[int, dict[str, float]], None]  # (steps done, latest losses)
# After each timed window, outside its clock: (window number from 1, the measurement so far).
# Evaluation runs here, so it never counts as training time.
WindowCallback = Callable[[int, "TrainingMeasurement"], None]


@dataclass
class TrainingMeasurement:
    """What one run's training loop measured; partial when training diverged."""

    batch_size: int
    warmup_steps: int
    compile_s: float = 0.0
    window_s: list[float] = field(default_factory=list)  # wall time of each timed window
    window_steps: list[int] = field(default_factory=list)
    history: list[dict[str, float]] = field(default_factory=list)  # per window: means
    final_losses: dict[str, float] = field(default_factory=dict)

    @property
    def timed_steps(self) -> int:
        return sum(self.window_steps)

    @property
    def images_per_s_windows(self) -> list[float]:
        return [
            steps * self.batch_size / seconds
            for steps, seconds in zip(self.window_steps, self.window_s, strict=True)
        ]

    @property
    def images_per_s(self) -> float | None:
        rates = self.images_per_s_windows
        return float(np.median(rates)) if rates else None

    def step_ms_percentile(self, percent: float) -> float | None:
        if not self.window_s:
            return None
        step_ms = [
            1000.0 * seconds / steps
            for steps, seconds in zip(self.window_steps, self.window_s, strict=True)
        ]
        return float(np.percentile(step_ms, percent))

    @property
    def train_wall_s(self) -> float:
        return self.compile_s + sum(self.window_s)

    @property
    def steps_done(self) -> int:
        return self.warmup_steps + self.timed_steps


class DivergedError(RuntimeError):
    """A loss became NaN or inf; carries the step and everything measured before it."""

    def __init__(self, step: int, losses: dict[str, float], measurement: TrainingMeasurement):
        super().__init__(f"non-finite loss at step {step}: {losses}")
        self.step = step
        self.losses = losses
        self.measurement = measurement


def window_sizes(timed_steps: int, windows: int) -> list[int]:
    """Split timed steps into `windows` near-equal windows (the first ones one step longer)."""
    base, extra = divmod(timed_steps, windows)
    return [base + (1 if i < extra else 0) for i in range(windows)]


def budget_window_steps(
    budget_s: float, windows: int, index: int, measurement: TrainingMeasurement
) -> int:
    """Steps of timed window `index` (from 1) so that it ends near budget x index / windows.

    The time left after the warm-up is cut into `windows` equal slices; each window aims at
    the end of its slice on the training clock (train_wall_s), at the step time of the window
    before (the warm-up's, compile included, for the first), so errors never accumulate.
    At least one step, even when the clock is already past the slice.
    """
    target_s = measurement.compile_s + (budget_s - measurement.compile_s) * index / windows
    if measurement.window_s:
        step_s = measurement.window_s[-1] / measurement.window_steps[-1]
    else:
        step_s = measurement.compile_s / max(measurement.warmup_steps, 1)
    if step_s <= 0.0:
        return 1
    return max(1, round((target_s - measurement.train_wall_s) / step_s))


def measure_training(
    gan: GAN,
    batches: Iterator[Batch],
    batch_size: int,
    steps: int,
    warmup_steps: int,
    windows: int,
    on_progress: ProgressCallback | None = None,
    on_window_end: WindowCallback | None = None,
    train_budget_s: float | None = None,
) -> TrainingMeasurement:
    """Train for `steps` steps (warm-up included) and measure throughput as documented above.

    With `train_budget_s`, train for that many seconds of training instead (warm-up
    included, evaluations not): window k ends near budget x k / windows, so evaluations after
    given windows fall at fixed points in time, and `steps` is not used.
    """
    measurement = TrainingMeasurement(batch_size=batch_size, warmup_steps=warmup_steps)
    sizes = [warmup_steps, *window_sizes(steps - warmup_steps, windows)]
    step = 0
    for index in range(windows + 1):
        window = sizes[index]
        if train_budget_s is not None and index > 0:
            window = budget_window_steps(train_budget_s, windows, index, measurement)
        seconds, step_losses = timed_steps(gan, batches, window)
        if index == 0:
            measurement.compile_s = seconds
        else:
            measurement.window_s.append(seconds)
            measurement.window_steps.append(window)
        losses = _read_losses(step_losses, first_step=step + 1, measurement=measurement)
        step += window
        measurement.history.append({"step": step, "train_s": measurement.train_wall_s, **losses})
        measurement.final_losses = {k: float(v) for k, v in step_losses[-1].items()}
        if on_progress is not None:
            on_progress(step, measurement.final_losses)
        if on_window_end is not None and index > 0:
            on_window_end(index, measurement)
    return measurement


def timed_steps(gan: GAN, batches: Iterator[Batch], steps: int) -> tuple[float, list[StepLosses]]:
    """Seconds of `steps` training steps, and their losses (device scalars, unread).

    Batches are staged in chunks of at most STAGED_BYTES_MAX of images (at least one
    batch); only the steps are timed, each chunk between two synchronisations.
    """
    seconds, step_losses = 0.0, []
    left = steps
    while left > 0:
        staged, staged_bytes = [], 0
        while left > 0 and staged_bytes < STAGED_BYTES_MAX:
            images, labels, labelled_mask = next(batches)
            staged.append(gan.to_device(images, labels, labelled_mask))
            staged_bytes += images.nbytes
            left -= 1
        gan.synchronize()
        start = time.perf_counter()
        step_losses += [gan.train_step(*batch) for batch in staged]
        gan.synchronize()
        seconds += time.perf_counter() - start
    return seconds, step_losses


def _read_losses(
    step_losses: list[StepLosses], first_step: int, measurement: TrainingMeasurement
) -> dict[str, float]:
    """Read a window's losses back; the mean of each, or DivergedError at the first bad one."""
    values: dict[str, list[float]] = {}
    for offset, losses in enumerate(step_losses):
        read = {name: float(value) for name, value in losses.items()}
        if not all(math.isfinite(v) for v in read.values()):
            raise DivergedError(first_step + offset, read, measurement)
        for name, value in read.items():
            values.setdefault(name, []).append(value)
    return {name: float(np.mean(series)) for name, series in values.items()}
