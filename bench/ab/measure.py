"""Interleaved timing of one implementation, A against B, each in its resident process.

Both sides are built and warmed up once. Then the driver asks for short timing windows
in units of ABBA BAAB, so drift and busy neighbours hit both sides alike; only one side
runs at a time (the other waits on its pipe), and both sides of a unit run on the same
CPU, which rotates from unit to unit, so a neighbour stuck on one core cannot favour one
side. (Units of ABBA alone gave B the edge under load: A opened every unit, after the
driver's pause and the CPU move; A/A runs called B 5-15% faster.)
Steps per window are the same on both sides, chosen from a calibration window so that a
window lasts about `window_s`.

Sampling stops at the first scheduled look whose interval decides (bench.ab.verdict),
at the last look the budget allows, or when `budget_s` of timing is spent: then one
final look is made on every block so far (it is one of the `looks` the alpha was split
over). Why resident processes and 1 thread: README, "Regression check".
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.ab.side import SideProcess
from bench.ab.stats import (
    ALPHA,
    FIRST_LOOK_BLOCKS,
    Interval,
    block_log_ratios,
    look_schedule,
    minimum_detectable_pct,
    paired_interval,
)
from bench.ab.verdict import Verdict, throughput_verdict

# One unit: A B B A then B A A B. Any effect of a window's place (first after a pause or a
# CPU move, after the other side, after itself) falls on A and B alike within the unit,
# and a drift that is linear or quadratic over the unit cancels.
BLOCK_ORDER = ("A", "B", "B", "A", "B", "A", "A", "B")
OVERHEAD_FACTOR = 1.3  # a block takes longer than its windows: staging, pipes, reading losses


@dataclass(frozen=True)
class MeasureSettings:
    budget_s: float  # wall seconds of interleaved timing for one implementation
    min_effect_pct: float  # practical threshold of a slower/faster call, percent
    warmup_steps: int  # untimed steps per side before calibration
    window_s: float = 0.2  # target length of one timing window, seconds
    # False: time until the budget or the last look, then judge the blocks as if it had
    # stopped early (tests/benchmarks/ab_power.py keeps every block to replay other rules)
    stop_early: bool = True


@dataclass(frozen=True)
class Measurement:
    """What the interleaved timing found for one implementation."""

    window_steps: int
    batch_size: int
    a_seconds: tuple[float, ...]  # window times of A, in order (two per block)
    b_seconds: tuple[float, ...]
    looks: tuple[Interval, ...]  # the interval at each look made
    planned_looks: int  # the alpha was split over this many
    throughput: Verdict | None  # None: no look decided
    stopped: str  # "decided", "budget" or "last look"
    timing_s: float  # wall time of the blocks
    schedule: tuple[int, ...] = ()  # block counts of the planned looks
    block_end_s: tuple[float, ...] = ()  # when each block ended, from the first block's start

    @property
    def interval(self) -> Interval | None:
        return self.looks[-1] if self.looks else None

    @property
    def windows(self) -> int:
        return len(self.a_seconds) + len(self.b_seconds)

    def images_per_s(self, side: str) -> float | None:
        seconds = self.a_seconds if side == "A" else self.b_seconds
        if not seconds:
            return None
        return self.window_steps * self.batch_size * len(seconds) / sum(seconds)

    def mde_pct(self, min_effect_pct: float) -> float | None:
        return (
            None if self.interval is None else minimum_detectable_pct(self.interval, min_effect_pct)
        )


def measure_pair(
    a: SideProcess, b: SideProcess, batch_size: int, settings: MeasureSettings
) -> Measurement:
    """Warm up, calibrate, then ABBA blocks with scheduled looks until decided or out of time."""
    sides = {"A": a, "B": b}
    for side in sides.values():  # both warm up at once: untimed
        side.send({"op": "window", "steps": settings.warmup_steps})
    for side in sides.values():
        side.receive()
    probe_steps = max(1, settings.warmup_steps // 2)
    step_s = sum(side.window_s(probe_steps) for side in sides.values()) / (2 * probe_steps)
    window_steps = max(1, round(settings.window_s / step_s))
    block_s = len(BLOCK_ORDER) * window_steps * step_s * OVERHEAD_FACTOR
    schedule = tuple(look_schedule(int(settings.budget_s / block_s)))
    confidence = 1.0 - ALPHA / len(schedule)
    times: dict[str, list[float]] = {"A": [], "B": []}
    block_end_s: list[float] = []
    started = time.perf_counter()
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    while time.perf_counter() - started + block_s <= settings.budget_s:
        # Both sides of a unit on the same CPU, the CPU rotating from unit to unit: a
        # neighbour that sits on one core slows A and B alike, never one side for good.
        block_cpus = [cpus[len(block_end_s) % len(cpus)]] if cpus else None
        for label in BLOCK_ORDER:
            times[label].append(sides[label].window_s(window_steps, block_cpus))
        block_end_s.append(time.perf_counter() - started)
        blocks = len(block_end_s)
        if blocks == schedule[-1]:
            break
        if settings.stop_early and blocks in schedule:
            ratios = block_log_ratios(times["A"], times["B"])
            if throughput_verdict(paired_interval(ratios, confidence), settings.min_effect_pct):
                break
    ratios = block_log_ratios(times["A"], times["B"])
    looks, verdict, stopped = sequential_looks(
        ratios, schedule, confidence, settings.min_effect_pct
    )
    return Measurement(
        window_steps=window_steps,
        batch_size=batch_size,
        a_seconds=tuple(times["A"]),
        b_seconds=tuple(times["B"]),
        looks=tuple(looks),
        planned_looks=len(schedule),
        throughput=verdict,
        stopped=stopped,
        timing_s=time.perf_counter() - started,
        schedule=schedule,
        block_end_s=tuple(block_end_s),
    )


def sequential_looks(
    log_ratios: np.ndarray, schedule: Sequence[int], confidence: float, min_effect_pct: float
) -> tuple[list[Interval], Verdict | None, str]:
    """The looks a run makes on these blocks: at each scheduled count until one decides;
    if none did and blocks remain past the last look made, one final look on all of them.

    The live loop stops where this says; a run that kept sampling (stop_early False) is
    judged by the same rule on the same blocks, so its verdict is the early-stopping one.
    """
    looks: list[Interval] = []
    for count in schedule:
        if count > len(log_ratios):
            break
        looks.append(paired_interval(log_ratios[:count], confidence))
        verdict = throughput_verdict(looks[-1], min_effect_pct)
        if verdict is not None:
            return looks, verdict, "decided"
        if count == schedule[-1]:
            return looks, None, "last look"
    if len(log_ratios) >= 3 and (not looks or looks[-1].blocks != len(log_ratios)):
        looks.append(paired_interval(log_ratios, confidence))
        return looks, throughput_verdict(looks[-1], min_effect_pct), "budget"
    return looks, None, "budget"


__all__ = ["FIRST_LOOK_BLOCKS", "MeasureSettings", "Measurement", "measure_pair"]
