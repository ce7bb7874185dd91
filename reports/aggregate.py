"""Rows -> implementations: seed aggregation, the feature space, and the quality figure.

A report reads by implementation (variant x framework x the configuration that
varies), never by run: every figure is a mean over seeds with its spread and n,
so a folder of 10,000 rows becomes a few dozen lines. A lead or a difference is
called real only by a test over the seeds (reports/significance.py); with one
seed there is nothing to test, and the report says so instead of guessing. Which
figures there are comes from the metric catalogue (bench/catalogue.py).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.catalogue import (
    BY_NAME,
    CATALOGUE,
    FID_CLASSIFIER,
    FID_INCEPTION,
    IMAGES_PER_S,
    KID_CLASSIFIER,
    KID_INCEPTION,
    PARZEN_LL,
    Better,
)
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
    "train_budget_s": "{} s budget",
}
METRICS: tuple[str, ...] = tuple(metric.name for metric in CATALOGUE)  # aggregated over seeds


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
    features: str = "classifier"  # the catalogue's `features` of the metrics shown


def feature_space(rows: Sequence[Row]) -> FeatureSpace:
    if any(getattr(row, FID_INCEPTION.name) is not None for row in rows):
        return FeatureSpace(
            FID_INCEPTION.name,
            KID_INCEPTION.name,
            "InceptionV3 pool3 (pytorch-fid)",
            features=FID_INCEPTION.features or "",
        )
    reasons = sorted({row.fid_inception_reason for row in rows if row.fid_inception_reason})
    reason = "; ".join(reasons) if reasons else "no row has Inception features"
    return FeatureSpace(
        FID_CLASSIFIER.name,
        KID_CLASSIFIER.name,
        "the data set's reference classifier",
        reason,
        features=FID_CLASSIFIER.features or "",
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

    def seed_values(self, metric: str) -> tuple[float, ...]:
        """The metric's finite value in each ok run: what a verdict test compares."""
        values = (getattr(row, metric) for row in self.ok_rows)
        return tuple(float(v) for v in values if v is not None and math.isfinite(v))

    def recorded(self, metric: str) -> bool:
        """Whether any run recorded the metric: it applies to this implementation's label use."""
        return any(getattr(row, metric) is not None for row in self.rows)


def implementation_key(row: Row) -> str:
    """The identity as one string: the key of `verdicts` and of the raw rows' link."""
    return "/".join(str(getattr(row, name)) for name in IDENTITY_FIELDS)


def group_implementations(rows: Sequence[Row]) -> list[Implementation]:
    """One Implementation per identity, figures aggregated over its ok runs."""
    keys = [implementation_key(row) for row in rows]
    members: dict[str, list[Row]] = {}
    for key, row in zip(keys, rows, strict=True):
        members.setdefault(key, []).append(row)
    stats = seed_stats(rows, keys)
    varying = _varying_label_fields(rows)
    implementations = []
    for key, group in members.items():
        first = group[0]
        implementation = Implementation(
            key=key,
            label=_label(first, varying.get((first.variant, first.framework), ())),
            variant=first.variant,
            framework=first.framework,
            identity={name: getattr(first, name) for name in IDENTITY_FIELDS},
            rows=sorted(group, key=lambda row: row.seed),
            stats=stats.get(key, {name: EMPTY for name in METRICS}),
            status_counts=dict(Counter(row.status for row in group)),
        )
        _complete(implementation)
        implementations.append(implementation)
    return sorted(implementations, key=lambda impl: (impl.variant, impl.framework, impl.label))


def seed_stats(rows: Sequence[Row], keys: Sequence[str]) -> dict[str, dict[str, Stat]]:
    """Implementation key -> metric -> Stat over its ok runs: one groupby over the rows.

    Each group's values are in seed order, as Implementation.rows are, so a mean adds the
    same numbers in the same order wherever it is taken (bit for bit).
    """
    frame = pd.DataFrame(
        {name: [getattr(row, name) for row in rows] for name in METRICS}, dtype=float
    )
    frame["key"], frame["seed"] = keys, [row.seed for row in rows]
    ok = frame[[row.status == "ok" for row in rows]].sort_values("seed", kind="stable")
    return ok.groupby("key", sort=False)[list(METRICS)].agg(stat_of).to_dict("index")


def _varying_label_fields(rows: Sequence[Row]) -> dict[tuple[str, str], tuple[str, ...]]:
    values: dict[tuple[str, str], dict[str, set]] = {}
    for row in rows:
        seen = values.setdefault((row.variant, row.framework), {n: set() for n in LABEL_FIELDS})
        for name in LABEL_FIELDS:
            seen[name].add(getattr(row, name))
    return {
        pair: tuple(name for name in LABEL_FIELDS if len(seen[name]) > 1)
        for pair, seen in values.items()
    }


def _label(row: Row, varying: tuple[str, ...]) -> str:
    parts = [row.variant, row.framework]
    parts += [LABEL_FIELDS[name].format(getattr(row, name)) for name in varying]
    return " · ".join(parts)


def _complete(implementation: Implementation) -> None:
    """The one-seed throughput spread, the reasons of null figures, the sample grid."""
    ok_rows = implementation.ok_rows
    throughput = implementation.stats[IMAGES_PER_S.name]
    if throughput.n == 1:  # one seed: the spread of its timing windows instead
        windows = stat_of(ok_rows[0].images_per_s_windows if ok_rows else [])
        implementation.stats[IMAGES_PER_S.name] = Stat(
            throughput.mean, windows.std, 1, spread_kind="windows"
        )
    for metric in METRICS:
        if implementation.stats[metric].n == 0:
            implementation.notes[metric] = _null_reason(metric, ok_rows)
    with_grid = [row for row in ok_rows if row.sample_grid_png] or [
        row for row in implementation.rows if row.sample_grid_png
    ]
    if with_grid:
        implementation.sample_grid_png = with_grid[0].sample_grid_png
        implementation.sample_grid_seed = with_grid[0].seed


def _null_reason(metric: str, ok_rows: Sequence[Row]) -> str:
    """Why a metric has no value: the rows' own notes, never a guess."""
    if not ok_rows:
        return "no run of this implementation finished ok"
    companion = BY_NAME[metric].comes_with or ""
    features = BY_NAME[metric].features == FID_INCEPTION.features
    reasons: set[str] = set()
    for row in ok_rows:
        note = row.metric_notes.get(metric) or row.metric_notes.get(companion)
        if features:
            note = note or row.fid_inception_reason
        if note:
            reasons.add(note)
    return "; ".join(sorted(reasons)) if reasons else "not recorded in these rows"


# ----------------------------------------------------------------------------- judgement


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
    fid = BY_NAME[space.fid]
    if any(impl.stat(fid.name).n for impl in implementations):
        return Quality(fid.name, f"FID ({space.name})", fid.display, fid.better is Better.LOWER)
    if any(impl.stat(PARZEN_LL.name).n for impl in implementations):
        return Quality(
            PARZEN_LL.name,
            f"Parzen log-likelihood ({PARZEN_LL.unit})",
            PARZEN_LL.display,
            PARZEN_LL.better is Better.LOWER,
        )
    return None


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
