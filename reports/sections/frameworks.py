"""PyTorch versus TensorFlow: pairs that differ only in framework, in words a reader can act on.

Each pair's speed (as a ratio) and quality (as a difference) is tested over seeds by
Welch's t-test, every comparison of the section Holm-corrected together as one family
(reports/significance.py), the same test the "which to choose" cards use.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.catalogue import IMAGES_PER_S
from reports.aggregate import Implementation, Quality
from reports.sections.choose import TIMES, detectable_text, effect_text
from reports.sections.leaderboard import format_stat
from reports.significance import Difference, Outcome, Pair, compare_family


@dataclass(frozen=True)
class TwinComparison:
    """PyTorch vs TensorFlow for one variant (and one configuration)."""

    label: str  # the variant and what varies, without the framework
    torch: Implementation
    tf: Implementation
    speed: Difference  # torch images/s against tf, as a ratio
    quality: Difference | None  # torch minus tf in the quality metric; None: no quality metric

    @property
    def speed_ratio(self) -> float | None:
        return self.speed.effect

    @property
    def quality_difference(self) -> float | None:
        return self.quality.effect if self.quality else None


def framework_twins(
    implementations: Sequence[Implementation], quality: Quality | None
) -> list[TwinComparison]:
    """Pairs that differ only in framework, their speed and quality tested as one family."""
    by_identity: dict[tuple, dict[str, Implementation]] = defaultdict(dict)
    for impl in implementations:
        identity = tuple(v for k, v in impl.identity.items() if k != "framework")
        by_identity[identity][impl.framework] = impl
    pairs = sorted(
        (
            (pair["torch"].label.replace(" · torch", ""), pair["torch"], pair["tf"])
            for pair in by_identity.values()
            if "torch" in pair and "tf" in pair
        ),
        key=lambda entry: entry[0],
    )
    tests: list[Pair] = []
    for _, torch_impl, tf_impl in pairs:
        speed = IMAGES_PER_S.name
        tests.append(Pair(torch_impl.seed_values(speed), tf_impl.seed_values(speed), "log"))
        if quality is not None:
            metric = quality.metric
            tests.append(Pair(torch_impl.seed_values(metric), tf_impl.seed_values(metric)))
    differences = iter(compare_family(tests))
    return [
        TwinComparison(
            label, torch_impl, tf_impl, next(differences), next(differences) if quality else None
        )
        for label, torch_impl, tf_impl in pairs
    ]


@dataclass(frozen=True)
class TwinView:
    label: str
    torch_speed: str
    tf_speed: str
    faster: str
    speed_real: str
    torch_quality: str
    tf_quality: str
    better: str
    quality_real: str


def twin_views(twins: Sequence[TwinComparison], quality: Quality | None) -> list[TwinView]:
    """PyTorch vs TensorFlow in words a reader can act on."""
    views = []
    for twin in twins:
        faster = "—"
        if twin.speed_ratio:
            leader, ratio = ("PyTorch", twin.speed_ratio)
            if twin.speed_ratio < 1:
                leader, ratio = ("TensorFlow", 1 / twin.speed_ratio)
            faster = f"{leader} {ratio:.2f}{TIMES} faster"
        better = "—"
        if quality and twin.quality_difference is not None:
            torch_better = (twin.quality_difference < 0) == quality.lower_is_better
            leader = "PyTorch" if torch_better else "TensorFlow"
            better = f"{leader} by {abs(twin.quality_difference):,.2f}"
        metric = quality.metric if quality else ""
        views.append(
            TwinView(
                label=twin.label,
                torch_speed=format_stat(twin.torch.stat(IMAGES_PER_S.name), "{:,.0f}"),
                tf_speed=format_stat(twin.tf.stat(IMAGES_PER_S.name), "{:,.0f}"),
                faster=faster,
                speed_real=called_text(twin.speed, IMAGES_PER_S.unit),
                torch_quality=format_stat(twin.torch.stat(metric), "{:,.2f}") if metric else "—",
                tf_quality=format_stat(twin.tf.stat(metric), "{:,.2f}") if metric else "—",
                better=better,
                quality_real=called_text(twin.quality, quality.short) if quality else "—",
            )
        )
    return views


def called_text(difference: Difference | None, unit: str) -> str:
    """Whether the test calls it: "yes: 1.44x higher ..., p = 0.002", or "no: too close"."""
    if difference is None:
        return "—"
    if difference.outcome is Outcome.UNTESTABLE:
        return f"unknown: {difference.reason}"
    p_value = difference.p_adjusted or 0.0
    p_text = f"{p_value:.3f}" if p_value >= 0.001 else f"{p_value:.1e}"
    holm = f", Holm over {difference.comparisons}" if difference.comparisons > 1 else ""
    if difference.called:
        return f"yes: {effect_text(difference, unit)}, p = {p_text}{holm}"
    detectable = detectable_text(difference, unit)
    return f"no: too close to call, p = {p_text} (smallest detectable: {detectable}{holm})"
