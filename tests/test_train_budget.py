"""A training-time budget instead of a step count (the suite's `train_budget_s`).

The clock is a fake that a fake GAN advances by a fixed time per step, so every window
size, evaluation time and step count is exact arithmetic, never a timing on a busy machine.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench import timing
from bench.evaluation import evaluation_windows
from bench.timing import measure_training

COMPILE_STEP_S = 0.05  # each warm-up step (tracing, compiling)
STEP_S = 0.01  # each step after the warm-up
WARMUP_STEPS = 20
WINDOWS = 10


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s


class ClockedGAN:
    """Just the protocol measure_training calls; a step costs a known time on the clock."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.steps = 0

    def to_device(self, images, labels, mask):
        return images, labels, mask

    def synchronize(self) -> None:
        pass

    def train_step(self, images, labels, mask) -> dict[str, float]:
        self.steps += 1
        self.clock.now_s += COMPILE_STEP_S if self.steps <= WARMUP_STEPS else STEP_S
        return {"d_loss": 1.0, "g_loss": 1.0}


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(timing.time, "perf_counter", fake)
    return fake


def batches():
    batch = (np.zeros((2, 1, 1, 1), np.float32), np.zeros(2, np.int64), np.zeros(2, bool))
    return itertools.repeat(batch)


def test_budget_ends_training_at_the_budget_with_the_steps_it_reached(clock):
    # Warm-up: 20 x 0.05 = 1 s. The 9 s left are 10 slices of 0.9 s, window k ending at
    # 1 + 0.9 k. Window 1 guesses the warm-up's step time: 0.9 / 0.05 = 18 steps, ending at
    # 1.18 s; window 2 aims at 2.8 s: (2.8 - 1.18) / 0.01 = 162 steps; then 90 steps each.
    gan = ClockedGAN(clock)
    measurement = measure_training(
        gan, batches(), 2, 300, WARMUP_STEPS, WINDOWS, train_budget_s=10.0
    )
    assert measurement.window_steps == [18, 162, *[90] * 8]
    assert measurement.steps_done == 20 + 18 + 162 + 8 * 90 == 920 == gan.steps
    assert measurement.train_wall_s == pytest.approx(10.0, abs=1e-9)


def test_budget_evaluations_fall_at_fixed_points_in_time(clock):
    times: list[float] = []
    chosen = evaluation_windows(WINDOWS, 2)  # windows 5 and 10

    def on_window_end(window: int, measurement) -> None:
        if window in chosen:
            times.append(measurement.train_wall_s)
            clock.now_s += 3.0  # an evaluation takes time, which must not count as training

    measure_training(
        ClockedGAN(clock),
        batches(),
        2,
        300,
        WARMUP_STEPS,
        WINDOWS,
        on_window_end=on_window_end,
        train_budget_s=10.0,
    )
    assert times == pytest.approx([1.0 + 0.9 * 5, 10.0], abs=1e-9)


def test_without_a_budget_the_step_count_ends_training(clock):
    gan = ClockedGAN(clock)
    measurement = measure_training(gan, batches(), 2, 300, WARMUP_STEPS, WINDOWS)
    assert measurement.steps_done == 300 == gan.steps
    assert measurement.window_steps == [28] * 10


def test_budget_already_spent_by_the_warm_up_still_runs_one_step_per_window(clock):
    measurement = measure_training(
        ClockedGAN(clock), batches(), 2, 300, WARMUP_STEPS, WINDOWS, train_budget_s=0.5
    )
    assert measurement.window_steps == [1] * WINDOWS
