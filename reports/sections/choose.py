"""Which to choose: the best quality, the highest throughput, the fastest to a quality.

Each answer names a pick and its runner-up, and says whether the lead is larger
than the noise (`Lead`, a value), which is rendered as words only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bench.catalogue import IMAGES_PER_S
from bench.results import Row
from reports.aggregate import EMPTY, Implementation, Quality, Stat, exceeds_spread, stat_of
from reports.sections.leaderboard import format_stat


class Lead(Enum):
    """How a pick stands against its runner-up; words only in `lead_text`."""

    NO_CANDIDATE = "no candidate"  # no implementation has the figure
    ONLY_CANDIDATE = "only candidate"
    CLEAR = "clear"  # mean ± std ranges apart
    WITHIN_NOISE = "within noise"  # the ranges overlap
    NO_SPREAD = "no spread"  # one seed: nothing to judge the lead by


@dataclass(frozen=True)
class Choice:
    """One "which to choose" answer: the pick, the runner-up, and whether the lead is real."""

    question: str
    metric_name: str
    pick: Implementation | None
    pick_stat: Stat
    runner_up: Implementation | None
    runner_up_stat: Stat
    lead_exceeds_noise: bool | None  # None: no spread to judge by (one seed) or no runner-up
    explanation: str  # how the figure was obtained

    @property
    def lead(self) -> Lead:
        if self.pick is None:
            return Lead.NO_CANDIDATE
        if self.runner_up is None:
            return Lead.ONLY_CANDIDATE
        if self.lead_exceeds_noise is None:
            return Lead.NO_SPREAD
        return Lead.CLEAR if self.lead_exceeds_noise else Lead.WITHIN_NOISE


def lead_text(choice: Choice) -> str:
    """The lead in words, naming the noise it was judged against."""
    noise = (
        "the timing windows' spread (one seed)"
        if choice.pick_stat.spread_kind == "windows"
        else "the seed noise"
    )
    return {
        Lead.NO_CANDIDATE: "no implementation has this figure",
        Lead.ONLY_CANDIDATE: "the only candidate",
        Lead.CLEAR: f"clear lead: larger than {noise}",
        Lead.NO_SPREAD: "too close to call: one seed, so no noise estimate (run more seeds)",
        Lead.WITHIN_NOISE: f"too close to call: the lead is within {noise}",
    }[choice.lead]


def best_by(
    question: str,
    metric_name: str,
    candidates: Sequence[tuple[Implementation, Stat]],
    lower_is_better: bool,
    explanation: str,
) -> Choice:
    """The best and the runner-up among candidates with a value, and whether the lead is real."""
    ranked = sorted(
        ((impl, stat) for impl, stat in candidates if stat.mean is not None),
        key=lambda pair: pair[1].mean if lower_is_better else -pair[1].mean,  # type: ignore[operator]
    )
    pick, pick_stat = ranked[0] if ranked else (None, EMPTY)
    runner_up, runner_up_stat = ranked[1] if len(ranked) > 1 else (None, EMPTY)
    lead_real = exceeds_spread(pick_stat, runner_up_stat) if runner_up else None
    return Choice(
        question, metric_name, pick, pick_stat, runner_up, runner_up_stat, lead_real, explanation
    )


def time_to_target(row: Row, metric: str, target: float, lower_is_better: bool) -> float | None:
    """Training seconds until the run first reached the target (DAWNBench's time-to-quality).

    Interpolated linearly between the evaluation before and the one that reached it; a run
    already there at its first evaluation gets that evaluation's time (an upper bound).
    """
    points = eval_points(row, metric)
    sign = 1.0 if lower_is_better else -1.0
    for index, (train_s, value) in enumerate(points):
        if sign * value <= sign * target:
            if index == 0:
                return train_s
            before_s, before = points[index - 1]
            fraction = (before - target) / (before - value) if before != value else 1.0
            return before_s + fraction * (train_s - before_s)
    return None


def eval_points(row: Row, metric: str) -> list[tuple[float, float]]:
    """(train_s, value) of each evaluation; a row without history gives its final value."""
    points = sorted(
        (float(entry["train_s"]), float(entry[metric]))
        for entry in row.eval_history
        if entry.get(metric) is not None and entry.get("train_s") is not None
    )
    final = getattr(row, metric)
    if not points and final is not None and row.train_wall_s is not None:
        points = [(float(row.train_wall_s), float(final))]
    return points


def choices(implementations: Sequence[Implementation], quality: Quality | None) -> list[Choice]:
    """Best quality, highest throughput, and fastest to a quality every implementation reached."""
    throughput = best_by(
        "Highest throughput",
        IMAGES_PER_S.unit,
        [(impl, impl.stat(IMAGES_PER_S.name)) for impl in implementations],
        lower_is_better=False,
        explanation="training images per second, mean over seeds "
        "(one seed: the median over timing windows, spread over windows)",
    )
    if quality is None:
        missing = best_by("Best quality", "quality", [], True, "no quality metric in these rows")
        per_second = best_by(
            "Best quality per second of training", "s", [], True, missing.explanation
        )
        return [missing, throughput, per_second]
    best_quality = best_by(
        "Best quality",
        quality.short,
        [(impl, impl.stat(quality.metric)) for impl in implementations],
        quality.lower_is_better,
        f"{quality.name} at the last evaluation, mean over seeds",
    )
    return [best_quality, throughput, fastest_to_quality(implementations, quality)]


def fastest_to_quality(implementations: Sequence[Implementation], quality: Quality) -> Choice:
    """Seconds of training to reach the worst final quality of any run, so every run has a time."""
    finals = [
        points[-1][1]
        for impl in implementations
        for row in impl.ok_rows
        if (points := eval_points(row, quality.metric))
    ]
    question = "Best quality per second of training"
    if not finals:
        return best_by(question, "s", [], True, f"no run recorded {quality.short}")
    target = max(finals) if quality.lower_is_better else min(finals)
    candidates = [
        (
            impl,
            stat_of(
                time_to_target(row, quality.metric, target, quality.lower_is_better)
                for row in impl.ok_rows
            ),
        )
        for impl in implementations
    ]
    relation = "≤" if quality.lower_is_better else "≥"
    return best_by(
        question,
        "s",
        candidates,
        lower_is_better=True,
        explanation=f"training seconds to reach {quality.short} {relation} {target:,.2f} "
        "(the worst final value of any run, so every run reached it), interpolated between "
        "evaluations; mean over seeds",
    )


@dataclass(frozen=True)
class ChoiceView:
    question: str
    pick: str
    figure: str
    runner_up: str
    verdict: str
    clear: bool
    explanation: str


CHOICE_FORMATS = {IMAGES_PER_S.unit: IMAGES_PER_S.fmt, "s": "{:,.1f}"}  # unit -> format


def choice_view(choice: Choice) -> ChoiceView:
    fmt = CHOICE_FORMATS.get(choice.metric_name, "{:,.2f}")
    unit = choice.metric_name if choice.metric_name in CHOICE_FORMATS else ""
    figure = format_stat(choice.pick_stat, fmt)
    if choice.metric_name not in CHOICE_FORMATS:
        figure = f"{choice.metric_name} {figure}"
    return ChoiceView(
        question=choice.question,
        pick=choice.pick.label if choice.pick else "—",
        figure=f"{figure} {unit}".strip(),
        runner_up=(
            f"{choice.runner_up.label}: {format_stat(choice.runner_up_stat, fmt)} {unit}".strip()
            if choice.runner_up
            else "none"
        ),
        verdict=lead_text(choice),
        clear=choice.lead is Lead.CLEAR,
        explanation=choice.explanation,
    )
