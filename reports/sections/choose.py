"""Which to choose: the best quality, the highest throughput, the fastest to a quality.

Each answer names a pick and its runner-up, and says how sure it is: the pick is
compared with every other candidate over seeds by Welch's t-test, the card's
comparisons Holm-corrected together (reports/significance.py), and a winner is
called only when the pick beats them all (`Lead`, a value), rendered as words
only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from bench.catalogue import IMAGES_PER_S
from bench.results import Row
from reports.aggregate import EMPTY, Implementation, Quality, Stat, stat_of
from reports.sections.leaderboard import format_stat
from reports.significance import Difference, Outcome, Pair, compare_family

TIMES = "\u00d7"  # the multiplication sign, for "1.44x"
CHOICE_FORMATS = {IMAGES_PER_S.unit: IMAGES_PER_S.fmt, "s": "{:,.1f}"}  # unit -> format


class Lead(Enum):
    """How a pick stands against the other candidates; words only in `lead_text`."""

    NO_CANDIDATE = "no candidate"  # no implementation has the figure
    ONLY_CANDIDATE = "only candidate"
    CLEAR = "clear"  # the test calls the pick better than every other candidate
    WITHIN_NOISE = "within noise"  # some candidate is within what the seeds resolve
    NO_SPREAD = "no spread"  # fewer than two seeds on a side: nothing to test


@dataclass(frozen=True)
class Candidate:
    """An implementation with its figure (mean over seeds) and the per-seed values behind it."""

    impl: Implementation
    stat: Stat
    values: tuple[float, ...]


@dataclass(frozen=True)
class Choice:
    """One "which to choose" answer: the pick, the others ranked, and the tests against them."""

    question: str
    metric_name: str
    pick: Implementation | None
    pick_stat: Stat
    runner_up: Implementation | None
    runner_up_stat: Stat
    # the pick against each other candidate, best first (the runner-up's is the first)
    differences: tuple[tuple[Implementation, Difference], ...]
    lower_is_better: bool
    explanation: str  # how the figure was obtained

    @property
    def lead(self) -> Lead:
        if self.pick is None:
            return Lead.NO_CANDIDATE
        if self.runner_up is None:
            return Lead.ONLY_CANDIDATE
        better = Outcome.LOWER if self.lower_is_better else Outcome.HIGHER
        outcomes = [difference.outcome for _, difference in self.differences]
        if all(outcome is better for outcome in outcomes):
            return Lead.CLEAR
        if Outcome.UNTESTABLE in outcomes:
            return Lead.NO_SPREAD
        return Lead.WITHIN_NOISE

    @property
    def deciding(self) -> tuple[Implementation, Difference] | None:
        """The comparison the verdict rests on: the first not called, else the runner-up's."""
        better = Outcome.LOWER if self.lower_is_better else Outcome.HIGHER
        for other, difference in self.differences:
            if difference.outcome is not better:
                return other, difference
        return self.differences[0] if self.differences else None


def lead_text(choice: Choice) -> str:
    """The lead in words, with its size, its p-value and what the seeds can resolve."""
    if choice.lead is Lead.NO_CANDIDATE:
        return "no implementation has this figure"
    if choice.lead is Lead.ONLY_CANDIDATE:
        return "the only candidate"
    other, difference = choice.deciding  # type: ignore[misc]
    if choice.lead is Lead.NO_SPREAD:
        return f"too close to call: {difference.reason}"
    seeds = _seeds_text(difference)
    size = effect_text(difference, choice.metric_name)
    holm = f"; Holm over {difference.comparisons}" if difference.comparisons > 1 else ""
    if choice.lead is Lead.CLEAR:
        rest = " and every other candidate" if len(choice.differences) > 1 else ""
        return (
            f"{choice.pick.label} beats {other.label}{rest} on {choice.metric_name}: "  # type: ignore[union-attr]
            f"{size}, p = {_p(difference.p_adjusted)} ({seeds}{holm})"
        )
    detectable = detectable_text(difference, choice.metric_name)
    return (
        f"too close to call: against {other.label}, {size}, p = {_p(difference.p_adjusted)}, "
        f"within what {seeds} can resolve (smallest detectable: {detectable}{holm})"
    )


def effect_text(difference: Difference, unit: str) -> str:
    """ "41 ± 9 lower" (± half the interval), or on the log scale a ratio and its interval."""
    if difference.effect is None:
        return "no difference measured"
    if difference.scale == "log":
        ratio, low, high = difference.effect, difference.low, difference.high
        word = "higher" if ratio >= 1 else "lower"
        if ratio < 1:  # said as "1.25x lower", its interval inverted to match
            ratio, low, high = 1 / ratio, (1 / high if high else None), (1 / low if low else None)
        interval = f" (interval {low:.2f}-{high:.2f}{TIMES})" if low and high else ""
        return f"{ratio:.2f}{TIMES} {word}{interval}"
    word = "higher" if difference.effect >= 0 else "lower"
    fmt = CHOICE_FORMATS.get(unit, "{:,.2f}")
    if difference.half_width is None:
        return f"{fmt.format(abs(difference.effect))} {word}"
    return f"{fmt.format(abs(difference.effect))} ± {fmt.format(difference.half_width)} {word}"


def detectable_text(difference: Difference, unit: str) -> str:
    detectable = difference.smallest_detectable
    if detectable is None:
        return "unknown"
    if difference.scale == "log":
        return f"{detectable:.2f}{TIMES}"
    return f"{CHOICE_FORMATS.get(unit, '{:,.2f}').format(detectable)} {unit}".strip()


def _seeds_text(difference: Difference) -> str:
    if difference.n_first == difference.n_second:
        return f"{difference.n_first} seeds each"
    return f"{difference.n_first} and {difference.n_second} seeds"


def _p(p_value: float | None) -> str:
    if p_value is None:
        return "—"
    return f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.1e}"


def best_by(
    question: str,
    metric_name: str,
    candidates: Sequence[Candidate],
    lower_is_better: bool,
    explanation: str,
    scale: str = "linear",
) -> Choice:
    """The best by mean, tested against every other candidate with a value (one family)."""
    ranked = sorted(
        (candidate for candidate in candidates if candidate.stat.mean is not None),
        key=lambda c: c.stat.mean if lower_is_better else -c.stat.mean,  # type: ignore[operator]
    )
    if not ranked:
        return Choice(
            question, metric_name, None, EMPTY, None, EMPTY, (), lower_is_better, explanation
        )
    pick, others = ranked[0], ranked[1:]
    differences = compare_family([Pair(pick.values, other.values, scale) for other in others])
    return Choice(
        question,
        metric_name,
        pick.impl,
        pick.stat,
        others[0].impl if others else None,
        others[0].stat if others else EMPTY,
        tuple(zip((other.impl for other in others), differences, strict=True)),
        lower_is_better,
        explanation,
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


def candidate(impl: Implementation, metric: str) -> Candidate:
    return Candidate(impl, impl.stat(metric), impl.seed_values(metric))


def choices(implementations: Sequence[Implementation], quality: Quality | None) -> list[Choice]:
    """Best quality, highest throughput, and fastest to a quality every implementation reached."""
    throughput = best_by(
        "Highest throughput",
        IMAGES_PER_S.unit,
        [candidate(impl, IMAGES_PER_S.name) for impl in implementations],
        lower_is_better=False,
        explanation="training images per second, mean over seeds, compared as ratios "
        "(one seed: the median over timing windows, and no test: windows of one process "
        "do not show the spread between processes)",
        scale="log",
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
        [candidate(impl, quality.metric) for impl in implementations],
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
    candidates = []
    for impl in implementations:
        times = [
            time_to_target(row, quality.metric, target, quality.lower_is_better)
            for row in impl.ok_rows
        ]
        values = tuple(t for t in times if t is not None)
        candidates.append(Candidate(impl, stat_of(values), values))
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
