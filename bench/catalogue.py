"""The metric catalogue: every figure a row carries, said once.

Each entry is a Row field with its direction (is lower or higher better), unit,
floor (the smallest move `compare` calls a change), the label uses it applies to,
the name people read and the format it is shown in. Evaluation, `compare`, the
report's aggregation, leaderboard and plots all read this table, so adding a
metric is one entry here plus the function that computes it.

Which runs a metric applies to is said through the spec's label use
(`GanSpec.label_use`: "none", "conditional", "semi_supervised"), never a variant
name. A row holds null (and `metric_notes` the reason) where a metric does not
apply, so readers of rows see applicability as "recorded or not".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Better(StrEnum):
    """Which way a metric improves."""

    LOWER = "lower"
    HIGHER = "higher"


class Kind(StrEnum):
    """How `compare` judges a metric."""

    SPEED = "speed"  # noisy timing: judged by the throughput rule, or not gated
    WORK = "work"  # deterministic count: any change is a regression
    QUALITY = "quality"  # judged against the seed spread, above its floor


LABEL_USES: tuple[str, ...] = ("none", "conditional", "semi_supervised")
ALL_LABEL_USES = frozenset(LABEL_USES)
PERCENT = "{:.1%}"  # a format: mean and spread both shown in percent
SIGNIFICANT = "significant"  # a format: three significant digits, for figures of any scale


@dataclass(frozen=True)
class Metric:
    name: str  # the Row field
    kind: Kind
    display: str  # a short name for column headers
    unit: str
    fmt: str  # str.format pattern of the mean, or PERCENT / SIGNIFICANT
    better: Better | None = None  # None: neither way is better (a count, a setting)
    floor: float | None = None  # QUALITY: smallest move called a change; None: not gated
    applies_to: frozenset[str] = ALL_LABEL_USES  # the spec's label uses it is computed for
    comes_with: str | None = None  # a metric whose null reason this one shares
    description: str = ""  # the leaderboard column's hover text; "" = no column of its own
    features: str | None = None  # FID/KID: the feature space, "inception" or "classifier"

    def applies(self, label_use: str) -> bool:
        """Whether a run of this label use computes the metric (the rest record null)."""
        if label_use not in LABEL_USES:
            raise ValueError(f"label_use {label_use!r}; allowed: {', '.join(LABEL_USES)}")
        return label_use in self.applies_to


S, W, Q = Kind.SPEED, Kind.WORK, Kind.QUALITY
LOWER, HIGHER = Better.LOWER, Better.HIGHER

IMAGES_PER_S = Metric(
    "images_per_s",
    S,
    "images/s",
    "images/s",
    "{:,.0f}",
    HIGHER,
    description="training images per second: mean ± std over seeds "
    "(one seed: ± std over its timing windows)",
)
IMAGES_PER_S_RELATIVE = Metric(
    "images_per_s_relative", S, "images/s relative", "images/s per GFLOP/s", "{:,.4g}", HIGHER
)
STEP_MS_P50 = Metric(
    "step_ms_p50",
    S,
    "step ms p50",
    "ms",
    "{:,.1f}",
    LOWER,
    description="median window's mean step time",
)
STEP_MS_P90 = Metric(
    "step_ms_p90", S, "step ms p90", "ms", "{:,.1f}", LOWER, description="90th percentile window"
)
COMPILE_S = Metric(
    "compile_s",
    S,
    "compile s",
    "s",
    "{:,.1f}",
    LOWER,
    description="wall time of the warm-up steps",
)
PEAK_MEM_MB = Metric(
    "peak_mem_mb",
    S,
    "peak mem MB",
    "MiB",
    "{:,.0f}",
    LOWER,
    description="process RSS on CPU, allocator on GPU",
)
ACHIEVED_GFLOP_PER_S = Metric(
    "achieved_gflop_per_s",
    S,
    "GFLOP/s",
    "GFLOP/s",
    "{:,.1f}",
    HIGHER,
    description="model FLOPs per step (counted on the torch twin) x steps per second",
)
PEAK_GFLOP_PER_S = Metric("peak_gflop_per_s", S, "peak GFLOP/s", "GFLOP/s", "{:,.1f}")
MFU = Metric(
    "mfu",
    S,
    "MFU",
    "fraction of peak",
    PERCENT,
    HIGHER,
    description="achieved GFLOP/s over a large matmul's GFLOP/s in the run's precision, "
    "measured on the same device in the same process",
)
TRAIN_WALL_S = Metric("train_wall_s", S, "train s", "s", "{:,.1f}", LOWER)
FLOPS_PER_STEP = Metric("flops_per_step", W, "FLOPs/step", "FLOPs", "{:,.0f}")
PARAMS_GENERATOR = Metric(
    "params_generator",
    W,
    "params G / D",
    "parameters",
    "{:,.0f}",
    description="trainable parameters of G and D",
)
PARAMS_DISCRIMINATOR = Metric(
    "params_discriminator",
    W,
    "params D",
    "parameters",
    "{:,.0f}",
    comes_with="params_generator",
)
# Work and quality, each in the order `compare` reports its checks.
FID_CLASSIFIER = Metric(
    "fid_classifier",
    Q,
    "FID",
    "",
    "{:,.2f}",
    LOWER,
    floor=1.0,
    description="Fréchet distance in the data set's reference classifier; lower is better",
    features="classifier",
)
FID_INCEPTION = Metric(
    "fid_inception",
    Q,
    "FID",
    "",
    "{:,.2f}",
    LOWER,
    floor=1.0,
    description="Fréchet distance in InceptionV3 pool3 (pytorch-fid); lower is better",
    features="inception",
)
KID_CLASSIFIER = Metric(
    "kid_classifier",
    Q,
    "KID",
    "",
    SIGNIFICANT,
    LOWER,
    floor=0.001,
    comes_with="fid_classifier",
    description="kernel inception distance in the data set's reference classifier; lower is better",
    features="classifier",
)
KID_INCEPTION = Metric(
    "kid_inception",
    Q,
    "KID",
    "",
    SIGNIFICANT,
    LOWER,
    floor=0.001,
    comes_with="fid_inception",
    description="kernel inception distance in InceptionV3 pool3 (pytorch-fid); lower is better",
    features="inception",
)
PARZEN_LL = Metric(
    "parzen_ll",
    Q,
    "Parzen LL",
    "nats",
    "{:,.1f}",
    HIGHER,
    floor=2.0,  # nats (Goodfellow 2014 reports +/- 2)
    description="Parzen-window log-likelihood on the test split, nats (Goodfellow 2014); "
    "± std over seeds, or ± standard error with one seed; higher is better",
)
PARZEN_SE = Metric("parzen_se", Q, "Parzen SE", "nats", "{:,.1f}", comes_with="parzen_ll")
COND_ACCURACY = Metric(
    "cond_accuracy",
    Q,
    "cond acc",
    "fraction",
    PERCENT,
    HIGHER,
    floor=0.01,
    applies_to=frozenset({"conditional"}),
    description="samples read as the class asked for",
)
SSL_ACCURACY = Metric(
    "ssl_accuracy",
    Q,
    "ssl acc (labels only)",
    "fraction",
    PERCENT,
    HIGHER,
    floor=0.01,
    applies_to=frozenset({"semi_supervised"}),
    description="semi-supervised test accuracy, beside the same D trained on the N labels alone",
)
SSL_BASELINE_ACCURACY = Metric(  # a reference for ssl_accuracy, not the variant's quality
    "ssl_baseline_accuracy",
    Q,
    "ssl baseline acc",
    "fraction",
    PERCENT,
    HIGHER,
    applies_to=frozenset({"semi_supervised"}),
    comes_with="ssl_accuracy",
)
PROBE_ACCURACY = Metric(  # a conditional D reads the label: a probe would be given the answer
    "probe_accuracy", Q, "probe acc", "fraction", PERCENT, HIGHER, floor=0.01,
    applies_to=frozenset({"none", "semi_supervised"}),
    description="linear probe on D's features",
)  # fmt: skip

# Every entry above, in the order defined: the order of compare's checks and the CSV's tail.
CATALOGUE: tuple[Metric, ...] = tuple(v for v in list(globals().values()) if isinstance(v, Metric))
BY_NAME: dict[str, Metric] = {metric.name: metric for metric in CATALOGUE}


def metric(name: str) -> Metric:
    """The catalogue entry of a Row field; ValueError naming the allowed ones otherwise."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown metric {name!r}; allowed: {', '.join(BY_NAME)}") from None


def of_kind(kind: Kind) -> tuple[Metric, ...]:
    return tuple(m for m in CATALOGUE if m.kind == kind)


def gated_quality() -> tuple[Metric, ...]:
    """The quality metrics `compare` judges: those with a floor, in catalogue order."""
    return tuple(m for m in of_kind(Kind.QUALITY) if m.floor is not None)
