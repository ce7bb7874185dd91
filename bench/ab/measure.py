"""Interleaved timing of one implementation, A against B, in sessions of fresh processes.

A session is a fresh process per side, started by `open_pair` (bench/ab/session.py):
both import, build and warm up at once, are pinned to one CPU, get one untimed step
there, and are then timed in turn, window by window, in one block of A B B A B A A B,
so drift and busy neighbours hit both sides alike; only one side runs at a time (the
other waits on its pipe). The CPU rotates from session to session, and A opens the
block of two sessions in a row, then B of the next two, so neither a neighbour stuck on
one core nor the cost of opening after a pause favours one side.

Why fresh processes: two processes of identical code ran 5-10% apart for their whole
life here, and so did children forked from one process each, an offset interleaving
cannot remove. Over sessions of fresh processes it averages out and shows in the
interval (bench/ab/stats.py). One block a session: with that offset in every session,
more sessions narrow the interval more than longer ones.

Steps per window are the same on both sides, chosen from a calibration window in the
first session so that a window lasts about `window_s`. Sampling stops at the first
scheduled look whose interval decides (bench.ab.verdict), at the last look the budget
allows, or when `budget_s` of timing is spent: then one final look is made on every
session so far (it is one of the `looks` the alpha was split over). Why 1 thread:
README, "Regression check".
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from bench.ab.side import BuildRequest, SideProcess
from bench.ab.stats import (
    ALPHA,
    FIRST_LOOK_SESSIONS,
    WINDOWS_PER_SIDE,
    Interval,
    look_schedule,
    minimum_detectable_pct,
    minimum_sessions,
    paired_interval,
    session_log_ratios,
)
from bench.ab.verdict import Verdict, throughput_verdict

# One block: A B B A then B A A B. Any effect of a window's place (first after a pause, after
# the other side, after itself) falls on A and B alike within the block, and a drift that
# is linear or quadratic over the block cancels.
BLOCK_ORDER = ("A", "B", "B", "A", "B", "A", "A", "B")
MIRRORED_ORDER = tuple("B" if label == "A" else "A" for label in BLOCK_ORDER)
OVERHEAD_FACTOR = 1.3  # a block takes longer than its windows: staging, pipes, reading losses
SESSION_WARMUP_STEPS = 5  # every session but the first: a fresh process needs a few

# session index -> a context giving {"A": side, "B": side}, started, their session not yet
PairOpener = Callable[[int], contextlib.AbstractContextManager[dict[str, SideProcess]]]


@dataclass(frozen=True)
class MeasureSettings:
    budget_s: float  # wall seconds of interleaved timing for one implementation
    min_effect_pct: float  # practical threshold of a slower/faster call, percent
    warmup_steps: int  # untimed steps per side when the first session starts
    window_s: float = 0.2  # target length of one timing window, seconds
    # False: time until the budget or the last look, then judge the sessions as if it had
    # stopped early (tests/benchmarks/ab_power.py keeps every session to replay other rules)
    stop_early: bool = True


@dataclass(frozen=True)
class Measurement:
    """What the interleaved timing found for one implementation."""

    window_steps: int
    batch_size: int
    a_seconds: tuple[float, ...]  # window times of A, in order (four per session)
    b_seconds: tuple[float, ...]
    looks: tuple[Interval, ...]  # the interval at each look made
    planned_looks: int  # the alpha was split over this many
    throughput: Verdict | None  # None: no look decided
    stopped: str  # "decided", "budget" or "last look"
    timing_s: float  # wall time of the sessions, start-ups included
    schedule: tuple[int, ...] = ()  # session counts of the planned looks
    session_end_s: tuple[float, ...] = ()  # when each session ended, from the first's start
    session_start_s: tuple[float, ...] = ()  # per session: start, import, build, warm-up

    @property
    def interval(self) -> Interval | None:
        return self.looks[-1] if self.looks else None

    @property
    def windows(self) -> int:
        return len(self.a_seconds) + len(self.b_seconds)

    @property
    def sessions(self) -> int:
        return len(self.a_seconds) // WINDOWS_PER_SIDE

    def images_per_s(self, side: str) -> float | None:
        seconds = self.a_seconds if side == "A" else self.b_seconds
        if not seconds:
            return None
        return self.window_steps * self.batch_size * len(seconds) / sum(seconds)

    def mde_pct(self, min_effect_pct: float) -> float | None:
        return (
            None if self.interval is None else minimum_detectable_pct(self.interval, min_effect_pct)
        )


def start_sessions(sides: dict[str, SideProcess], warmup_steps: int, request: BuildRequest) -> None:
    """Both sides build and warm up at once; returns when both are ready."""
    for side in sides.values():
        side.start_session(warmup_steps, request)
    for side in sides.values():
        side.session_ready()


def measure_pair(
    open_pair: PairOpener, request: BuildRequest, settings: MeasureSettings
) -> Measurement:
    """Calibrate in the first session, then one A B B A B A A B block per session of fresh
    processes, looking at scheduled session counts, until decided or out of time."""
    started = time.perf_counter()
    times: dict[str, list[float]] = {"A": [], "B": []}
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    start_s: list[float] = []
    session_end_s: list[float] = []
    window_steps = 0
    session_s = 0.0
    schedule: tuple[int, ...] = (FIRST_LOOK_SESSIONS,)
    confidence = 1.0 - ALPHA
    enough = minimum_sessions(confidence)
    while True:
        session = len(session_end_s)
        opened = time.perf_counter()
        with open_pair(session) as sides:
            warmup_steps = SESSION_WARMUP_STEPS if session else settings.warmup_steps
            start_sessions(sides, warmup_steps, request)
            start_s.append(time.perf_counter() - opened)
            if not session:  # calibration: steps per window, and what a session costs
                probe_steps = max(1, settings.warmup_steps // 2)
                step_s = sum(side.window_s(probe_steps) for side in sides.values())
                step_s /= 2 * probe_steps
                window_steps = max(1, round(settings.window_s / step_s))
                block_s = len(BLOCK_ORDER) * window_steps * step_s * OVERHEAD_FACTOR
                # later sessions warm up for SESSION_WARMUP_STEPS and skip calibration
                spared_s = (settings.warmup_steps - SESSION_WARMUP_STEPS + probe_steps) * step_s
                session_s = max(start_s[0] / 2, start_s[0] - spared_s) + block_s
                schedule = tuple(look_schedule(int(settings.budget_s / session_s)))
                confidence = 1.0 - ALPHA / len(schedule)
                enough = minimum_sessions(confidence)
            _time_session(sides, session, cpus, window_steps, times)
            for side in sides.values():
                side.end_session()
        session_end_s.append(time.perf_counter() - started)
        sessions = len(session_end_s)
        if sessions == schedule[-1]:
            break
        if settings.stop_early and sessions in schedule and sessions >= enough:
            ratios = session_log_ratios(times["A"], times["B"], WINDOWS_PER_SIDE)
            if throughput_verdict(paired_interval(ratios, confidence), settings.min_effect_pct):
                break
        if time.perf_counter() - started + session_s > settings.budget_s:
            break
    ratios = session_log_ratios(times["A"], times["B"], WINDOWS_PER_SIDE)
    looks, verdict, stopped = sequential_looks(
        ratios, schedule, confidence, settings.min_effect_pct
    )
    return Measurement(
        window_steps=window_steps,
        batch_size=request.batch_size,
        a_seconds=tuple(times["A"]),
        b_seconds=tuple(times["B"]),
        looks=tuple(looks),
        planned_looks=len(schedule),
        throughput=verdict,
        stopped=stopped,
        timing_s=time.perf_counter() - started,
        schedule=schedule,
        session_end_s=tuple(session_end_s),
        session_start_s=tuple(start_s),
    )


def _time_session(
    sides: dict[str, SideProcess],
    session: int,
    cpus: list[int],
    window_steps: int,
    times: dict[str, list[float]],
) -> None:
    """One block on one CPU; A opens it in sessions 0, 1, 4, 5, ..., B in the others."""
    session_cpus = [cpus[session % len(cpus)]] if cpus else None
    for side in sides.values():  # pinned, then one untimed step on that CPU: a move's cost
        side.window_s(1, session_cpus)
    order = BLOCK_ORDER if (session // 2) % 2 == 0 else MIRRORED_ORDER
    for label in order:
        times[label].append(sides[label].window_s(window_steps, session_cpus))


def sequential_looks(
    log_ratios: np.ndarray, schedule: Sequence[int], confidence: float, min_effect_pct: float
) -> tuple[list[Interval], Verdict | None, str]:
    """The looks a run makes on these sessions: at each scheduled count until one decides;
    if none did and sessions remain past the last look made, one final look on all of them.

    The live loop stops where this says; a run that kept sampling (stop_early False) is
    judged by the same rule on the same sessions, so its verdict is the early-stopping one.
    """
    looks: list[Interval] = []
    enough = minimum_sessions(confidence)
    for count in schedule:
        if count > len(log_ratios):
            break
        if count < enough:  # a look that cannot reject anything is not made
            if count == schedule[-1]:
                return looks, None, "last look"
            continue
        looks.append(paired_interval(log_ratios[:count], confidence))
        verdict = throughput_verdict(looks[-1], min_effect_pct)
        if verdict is not None:
            return looks, verdict, "decided"
        if count == schedule[-1]:
            return looks, None, "last look"
    if len(log_ratios) >= enough and (not looks or looks[-1].sessions != len(log_ratios)):
        looks.append(paired_interval(log_ratios, confidence))
        return looks, throughput_verdict(looks[-1], min_effect_pct), "budget"
    return looks, None, "budget"


__all__ = ["FIRST_LOOK_SESSIONS", "MeasureSettings", "Measurement", "measure_pair"]
