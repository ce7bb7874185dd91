"""The verdict of `bench ab` for one implementation: a value, made here and only here.

Throughput (from bench.ab.stats' interval, `min_effect_pct` the practical threshold):
- slower: the interval is below 0 and the estimate is a slowdown beyond the threshold;
- faster: the interval is above 0 and the estimate is a speed-up beyond the threshold;
- same: the whole interval lies within +/- the threshold;
- inconclusive: none of these once the budget is spent (the MDE says what was reachable).
Exact figures (FLOPs per step, parameter counts) override it: any difference is `changed`.
A side that failed is `failed`; an implementation only one revision has is new/missing.
The values are bench.compare's Verdict, shared by both regression checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.ab.stats import Interval
from bench.compare.verdicts import Verdict


def throughput_verdict(interval: Interval, min_effect_pct: float) -> Verdict | None:
    """slower/faster/same when this interval decides; None while it does not."""
    slowdown_line = -min_effect_pct
    speedup_line = 100.0 * (1.0 / (1.0 - min_effect_pct / 100.0) - 1.0)  # symmetric in log
    if interval.high_pct < 0.0 and interval.change_pct < slowdown_line:
        return Verdict.SLOWER
    if interval.low_pct > 0.0 and interval.change_pct > speedup_line:
        return Verdict.FASTER
    if interval.low_pct > slowdown_line and interval.high_pct < speedup_line:
        return Verdict.SAME
    return None


@dataclass(frozen=True)
class ExactCheck:
    """One deterministic figure on both sides; any difference is a change."""

    name: str  # "flops_per_step", "params_generator", "params_discriminator"
    base: int | None
    head: int | None

    @property
    def changed(self) -> bool:
        return None not in (self.base, self.head) and self.base != self.head

    @property
    def change_pct(self) -> float | None:
        if not self.changed or not self.base:
            return None
        return 100.0 * (self.head / self.base - 1.0)  # type: ignore[operator]


def final_verdict(throughput: Verdict | None, exact: tuple[ExactCheck, ...]) -> Verdict:
    """The implementation's verdict: `changed` beats any timing call; undecided is inconclusive."""
    if any(check.changed for check in exact):
        return Verdict.CHANGED
    return throughput if throughput is not None else Verdict.INCONCLUSIVE


def is_finite_pct(value: float) -> bool:
    return math.isfinite(value)
