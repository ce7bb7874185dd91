"""A timing window stages its batches in bounded chunks and times only the steps.

A fake GAN on a fake clock: staging a batch costs 1 s, a step 0.01 s, so the window's
time is exact arithmetic, and the fake counts the batches staged but not yet trained.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench import timing
from bench.timing import measure_training

STAGE_S = 1.0
STEP_S = 0.01
BATCH = (np.zeros((4, 8, 8, 1), np.float32), np.zeros(4, np.int64), np.ones(4, bool))


class CountingGAN:
    """Only the protocol measure_training calls; knows how many batches wait on the device."""

    def __init__(self, clock: list[float]) -> None:
        self.clock = clock
        self.waiting = 0
        self.most_waiting = 0
        self.steps = 0

    def to_device(self, images, labels, mask):
        self.clock[0] += STAGE_S
        self.waiting += 1
        self.most_waiting = max(self.most_waiting, self.waiting)
        return images, labels, mask

    def synchronize(self) -> None:
        pass

    def train_step(self, images, labels, mask) -> dict[str, float]:
        self.clock[0] += STEP_S
        self.waiting -= 1
        self.steps += 1
        return {"d_loss": 1.0, "g_loss": 1.0}


@pytest.fixture
def clock(monkeypatch) -> list[float]:
    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    return now


def test_a_long_window_is_staged_in_chunks_of_at_most_the_byte_cap(clock, monkeypatch):
    monkeypatch.setattr(timing, "STAGED_BYTES_MAX", 3 * BATCH[0].nbytes)
    gan = CountingGAN(clock)
    measurement = measure_training(gan, itertools.repeat(BATCH), 4, 105, 5, 5)
    assert gan.most_waiting == 3
    assert gan.steps == 105 == measurement.steps_done
    # 20 steps a window; staging (1 s a batch) is outside every window's time
    assert measurement.window_s == pytest.approx([20 * STEP_S] * 5, abs=1e-9)
    assert measurement.compile_s == pytest.approx(5 * STEP_S, abs=1e-9)


def test_under_the_cap_a_window_is_staged_whole(clock):
    gan = CountingGAN(clock)
    measure_training(gan, itertools.repeat(BATCH), 4, 105, 5, 5)
    assert gan.most_waiting == 20
