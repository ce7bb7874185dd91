"""PyTorch versus TensorFlow: pairs that differ only in framework, in words a reader can act on."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.catalogue import IMAGES_PER_S
from reports.aggregate import EMPTY, Implementation, Quality, exceeds_spread
from reports.sections.leaderboard import format_stat

TIMES = "\u00d7"  # the multiplication sign, for "1.44x faster"


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
        torch_speed, tf_speed = torch_impl.stat(IMAGES_PER_S.name), tf_impl.stat(IMAGES_PER_S.name)
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


def twin_views(twins: Sequence, quality: Quality | None) -> list[TwinView]:
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
                speed_real=_real(twin.speed_exceeds_spread),
                torch_quality=format_stat(twin.torch.stat(metric), "{:,.2f}") if metric else "—",
                tf_quality=format_stat(twin.tf.stat(metric), "{:,.2f}") if metric else "—",
                better=better,
                quality_real=_real(twin.quality_exceeds_spread),
            )
        )
    return views


def _real(exceeds: bool | None) -> str:
    if exceeds is None:
        return "unknown (needs ≥ 2 seeds each)"
    return "yes" if exceeds else "no: within the spread"
