"""Rows -> implementations: seed aggregation, framework twins, and which one to choose.

A report reads by implementation (variant x framework x the configuration that
varies), never by run: every figure is a mean over seeds with its spread and n,
so a folder of 10,000 rows becomes a few dozen lines. A lead or a difference is
called real only when it exceeds that spread; with one seed there is no spread,
and the report says so instead of guessing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.results import IMPLEMENTATION_FIELDS, Row

IDENTITY_FIELDS = IMPLEMENTATION_FIELDS  # what makes two rows the same implementation
# Shown in an implementation's label only when it varies between runs of one variant x framework
# (steps differ per variant by design, so they are shown only when they vary within one).
LABEL_FIELDS: dict[str, str] = {
    "batch_size": "batch {}",
    "precision": "{}",
    "compile": "{}",
    "dataset": "{}",
    "device_name": "{}",
    "steps": "{} steps",
    "spec_preset": "{} widths",
    "ssl_labels": "{} labels",
}
SPEED_METRICS: tuple[str, ...] = (
    "images_per_s",
    "step_ms_p50",
    "step_ms_p90",
    "compile_s",
    "peak_mem_mb",
    "params_generator",
    "params_discriminator",
    "train_wall_s",
    "achieved_gflop_per_s",
    "mfu",
)
QUALITY_METRICS: tuple[str, ...] = (
    "parzen_ll",
    "parzen_se",
    "fid_inception",
    "kid_inception",
    "fid_classifier",
    "kid_classifier",
    "cond_accuracy",
    "ssl_accuracy",
    "ssl_baseline_accuracy",
    "probe_accuracy",
)
# A metric whose row has no note of its own borrows the reason of the metric it comes with.
NOTE_FALLBACK: dict[str, str] = {
    "kid_inception": "fid_inception",
    "parzen_se": "parzen_ll",
    "kid_classifier": "fid_classifier",
    "ssl_baseline_accuracy": "ssl_accuracy",
}


@dataclass(frozen=True)
class Stat:
    """Mean over seeds, its spread and how many seeds; spread_kind says what the spread is."""

    mean: float | None
    std: float | None  # sample std over seeds, or over timing windows when one seed
    n: int
    spread_kind: str = "seeds"  # "seeds" or "windows" (one seed: its timing windows)

    @property
    def has_spread(self) -> bool:
        return self.std is not None


EMPTY = Stat(None, None, 0)


def stat_of(values: Iterable[float | None]) -> Stat:
    """Mean and sample std (ddof=1) of the finite values; std None below two values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return EMPTY
    std = float(np.std(finite, ddof=1)) if len(finite) > 1 else None
    return Stat(float(np.mean(finite)), std, len(finite))


@dataclass(frozen=True)
class FeatureSpace:
    """Which FID/KID the report shows: Inception when any row has it, else the classifier's."""

    fid: str  # row field
    kid: str
    name: str  # for people
    reason: str | None = None  # why not Inception, when the classifier's features are shown


def feature_space(rows: Sequence[Row]) -> FeatureSpace:
    if any(row.fid_inception is not None for row in rows):
        return FeatureSpace("fid_inception", "kid_inception", "InceptionV3 pool3 (pytorch-fid)")
    reasons = sorted({row.fid_inception_reason for row in rows if row.fid_inception_reason})
    reason = "; ".join(reasons) if reasons else "no row has Inception features"
    return FeatureSpace(
        "fid_classifier", "kid_classifier", "the data set's reference classifier", reason
    )


@dataclass
class Implementation:
    """All runs of one implementation, and their figures aggregated over seeds."""

    key: str  # stable id of the identity (every IDENTITY_FIELDS value), for verdicts
    label: str  # what a person reads: "dcgan · torch", plus what varies
    variant: str
    framework: str
    identity: dict[str, object]
    rows: list[Row]
    stats: dict[str, Stat] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)  # metric -> why it is null
    status_counts: dict[str, int] = field(default_factory=dict)
    sample_grid_png: str | None = None
    sample_grid_seed: int | None = None

    @property
    def ok_rows(self) -> list[Row]:
        return [row for row in self.rows if row.status == "ok"]

    @property
    def seeds(self) -> list[int]:
        return sorted({row.seed for row in self.ok_rows})

    def stat(self, metric: str) -> Stat:
        return self.stats.get(metric, EMPTY)


def implementation_key(row: Row) -> str:
    """The identity as one string: the key of `verdicts` and of the raw rows' link."""
    return "/".join(str(getattr(row, name)) for name in IDENTITY_FIELDS)


def group_implementations(rows: Sequence[Row]) -> list[Implementation]:
    """One Implementation per identity, figures aggregated over its ok runs."""
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        groups[implementation_key(row)].append(row)
    varying = _varying_label_fields(rows)
    implementations = []
    for key, members in groups.items():
        first = members[0]
        implementation = Implementation(
            key=key,
            label=_label(first, varying.get((first.variant, first.framework), ())),
            variant=first.variant,
            framework=first.framework,
            identity={name: getattr(first, name) for name in IDENTITY_FIELDS},
            rows=sorted(members, key=lambda row: row.seed),
        )
        _aggregate(implementation)
        implementations.append(implementation)
    return sorted(implementations, key=lambda impl: (impl.variant, impl.framework, impl.label))


def _varying_label_fields(rows: Sequence[Row]) -> dict[tuple[str, str], tuple[str, ...]]:
    values: dict[tuple[str, str], dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for row in rows:
        for name in LABEL_FIELDS:
            values[(row.variant, row.framework)][name].add(getattr(row, name))
    return {
        pair: tuple(name for name in LABEL_FIELDS if len(seen[name]) > 1)
        for pair, seen in values.items()
    }


def _label(row: Row, varying: tuple[str, ...]) -> str:
    parts = [row.variant, row.framework]
    parts += [LABEL_FIELDS[name].format(getattr(row, name)) for name in varying]
    return " · ".join(parts)


def _aggregate(implementation: Implementation) -> None:
    ok_rows = implementation.ok_rows
    counts: dict[str, int] = defaultdict(int)
    for row in implementation.rows:
        counts[row.status] += 1
    implementation.status_counts = dict(counts)
    for metric in SPEED_METRICS + QUALITY_METRICS:
        implementation.stats[metric] = stat_of(getattr(row, metric) for row in ok_rows)
    throughput = implementation.stats["images_per_s"]
    if throughput.n == 1:  # one seed: the spread of its timing windows instead
        windows = stat_of(ok_rows[0].images_per_s_windows if ok_rows else [])
        implementation.stats["images_per_s"] = Stat(
            throughput.mean, windows.std, 1, spread_kind="windows"
        )
    for metric in QUALITY_METRICS + SPEED_METRICS:
        if implementation.stats[metric].n == 0:
            implementation.notes[metric] = _null_reason(metric, implementation.rows, ok_rows)
    with_grid = [row for row in ok_rows if row.sample_grid_png] or [
        row for row in implementation.rows if row.sample_grid_png
    ]
    if with_grid:
        implementation.sample_grid_png = with_grid[0].sample_grid_png
        implementation.sample_grid_seed = with_grid[0].seed


def _null_reason(metric: str, rows: Sequence[Row], ok_rows: Sequence[Row]) -> str:
    """Why a metric has no value: the rows' own notes, never a guess."""
    if not ok_rows:
        return "no run of this implementation finished ok"
    reasons: set[str] = set()
    for row in ok_rows:
        note = row.metric_notes.get(metric) or row.metric_notes.get(NOTE_FALLBACK.get(metric, ""))
        if metric in ("fid_inception", "kid_inception"):
            note = note or row.fid_inception_reason
        if note:
            reasons.add(note)
    return "; ".join(sorted(reasons)) if reasons else "not recorded in these rows"


# ----------------------------------------------------------------------------- comparisons


@dataclass(frozen=True)
class Quality:
    """The figure the report ranks quality by (FID in the shown feature space, else Parzen)."""

    metric: str  # row field
    name: str  # for people, e.g. "FID (InceptionV3 pool3)"
    short: str  # for table headers: "FID"
    lower_is_better: bool


def quality_metric(
    implementations: Sequence[Implementation], space: FeatureSpace
) -> Quality | None:
    if any(impl.stat(space.fid).n for impl in implementations):
        return Quality(space.fid, f"FID ({space.name})", "FID", lower_is_better=True)
    if any(impl.stat("parzen_ll").n for impl in implementations):
        return Quality(
            "parzen_ll", "Parzen log-likelihood (nats)", "Parzen LL", lower_is_better=False
        )
    return None


def exceeds_spread(first: Stat, second: Stat) -> bool | None:
    """Whether mean ± std of the two do not overlap; None when either has no spread."""
    if first.mean is None or second.mean is None or not (first.has_spread and second.has_spread):
        return None
    return abs(first.mean - second.mean) > first.std + second.std  # type: ignore[operator]


@dataclass(frozen=True)
class TwinComparison:
    """PyTorch vs TensorFlow for one variant (and one configuration)."""

    label: str  # the variant and what varies, without the framework
    torch: Implementation
    tf: Implementation
    speed_ratio: float | None  # torch images/s over tf images/s
    speed_exceeds_spread: bool | None
    quality_difference: float | None  # torch minus tf, in the quality metric's units
    quality_exceeds_spread: bool | None


def framework_twins(
    implementations: Sequence[Implementation], quality: Quality | None
) -> list[TwinComparison]:
    """Pairs that differ only in framework, each with its speed ratio and quality difference."""
    by_identity: dict[tuple, dict[str, Implementation]] = defaultdict(dict)
    for impl in implementations:
        identity = tuple(v for k, v in impl.identity.items() if k != "framework")
        by_identity[identity][impl.framework] = impl
    comparisons = []
    for pair in by_identity.values():
        if "torch" not in pair or "tf" not in pair:
            continue
        torch_impl, tf_impl = pair["torch"], pair["tf"]
        torch_speed, tf_speed = torch_impl.stat("images_per_s"), tf_impl.stat("images_per_s")
        ratio = (
            torch_speed.mean / tf_speed.mean
            if torch_speed.mean is not None and tf_speed.mean
            else None
        )
        torch_quality = torch_impl.stat(quality.metric) if quality else EMPTY
        tf_quality = tf_impl.stat(quality.metric) if quality else EMPTY
        difference = (
            torch_quality.mean - tf_quality.mean
            if torch_quality.mean is not None and tf_quality.mean is not None
            else None
        )
        comparisons.append(
            TwinComparison(
                label=torch_impl.label.replace(" · torch", ""),
                torch=torch_impl,
                tf=tf_impl,
                speed_ratio=ratio,
                speed_exceeds_spread=exceeds_spread(torch_speed, tf_speed),
                quality_difference=difference,
                quality_exceeds_spread=exceeds_spread(torch_quality, tf_quality),
            )
        )
    return sorted(comparisons, key=lambda c: c.label)


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
    def verdict(self) -> str:
        if self.pick is None:
            return "no implementation has this figure"
        if self.runner_up is None:
            return "the only candidate"
        noise = (
            "the timing windows' spread (one seed)"
            if self.pick_stat.spread_kind == "windows"
            else "the seed noise"
        )
        if self.lead_exceeds_noise:
            return f"clear lead: larger than {noise}"
        if self.lead_exceeds_noise is None:
            return "too close to call: one seed, so no noise estimate (run more seeds)"
        return f"too close to call: the lead is within {noise}"


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
        "images/s",
        [(impl, impl.stat("images_per_s")) for impl in implementations],
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


def pareto_front(points: Sequence[tuple[float, float]], lower_is_better: bool) -> list[int]:
    """Indices of the (throughput, quality) points no other point beats on both axes."""
    sign = 1.0 if lower_is_better else -1.0
    front = []
    for i, (speed_i, quality_i) in enumerate(points):
        dominated = any(
            speed_j >= speed_i
            and sign * quality_j <= sign * quality_i
            and (speed_j > speed_i or sign * quality_j < sign * quality_i)
            for j, (speed_j, quality_j) in enumerate(points)
            if j != i
        )
        if not dominated:
            front.append(i)
    return front


# ----------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class FailureGroup:
    """Runs of one implementation that ended the same way: listed, never dropped."""

    label: str
    status: str
    error: str
    seeds: list[int]
    run_ids: list[str]
    traceback: str | None
    diverged_steps: list[int]


def failure_groups(implementations: Sequence[Implementation]) -> list[FailureGroup]:
    """Every non-ok run, grouped by implementation, status and error, so 1,000 alike stay short."""
    groups = []
    for impl in implementations:
        alike: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in impl.rows:
            if row.status != "ok":
                alike[(row.status, row.error or "(no error recorded)")].append(row)
        for (status, error), rows in alike.items():
            groups.append(
                FailureGroup(
                    label=impl.label,
                    status=status,
                    error=error,
                    seeds=[row.seed for row in rows],
                    run_ids=[row.run_id for row in rows],
                    traceback=next((row.traceback for row in rows if row.traceback), None),
                    diverged_steps=[r.diverged_step for r in rows if r.diverged_step is not None],
                )
            )
    return groups
