"""The yardsticks: training images and uniform noise, scored as if generated.

Rows carry them (bench/references.py) in the same features, split and sample count as
their own figures; they depend only on the data set and the sample count, so the report
shows one pair per (data set, eval_samples) it finds, as lines under the leaderboard and
on the quality-against-time plot. A reader sees that 600 is bad and 20 is good without
knowing the metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.catalogue import COND_ACCURACY
from bench.results import Row

# How each reference is named for readers, and the row metric its classifier accuracy is
KIND_LABELS = {
    "real": "training images (floor: what a perfect generator scores)",
    "noise": "uniform noise (ceiling: what an untrained generator scores)",
}
CLASSIFIER_ACCURACY_AS = COND_ACCURACY.name


@dataclass(frozen=True)
class ReferenceLine:
    """One reference as the report shows it: a label and row metric name -> value."""

    kind: str  # "real" or "noise"
    label: str
    dataset: str
    samples: int
    values: dict[str, float]  # row metric name (fid_classifier, cond_accuracy, ...) -> value

    def value(self, metric: str) -> float | None:
        return self.values.get(metric)


def reference_lines(rows: Sequence[Row]) -> list[ReferenceLine]:
    """The references the rows carry, one pair per (data set, eval_samples), real first."""
    seen: dict[tuple[str, int, str], ReferenceLine] = {}
    for row in rows:
        for kind, recorded in (("real", row.reference_real), ("noise", row.reference_noise)):
            if not recorded or row.eval_samples is None:
                continue
            key = (row.dataset, row.eval_samples, kind)
            if key not in seen:
                seen[key] = _line(kind, row.dataset, row.eval_samples, recorded)
    several = len({(dataset, samples) for dataset, samples, _ in seen}) > 1
    lines = sorted(
        seen.values(), key=lambda line: (line.dataset, line.samples, line.kind != "real")
    )
    if not several:
        return lines
    return [
        ReferenceLine(
            line.kind,
            f"{line.label}, {line.dataset}, {line.samples:,} images",
            line.dataset,
            line.samples,
            line.values,
        )
        for line in lines
    ]


def _line(
    kind: str, dataset: str, samples: int, recorded: dict[str, float | None]
) -> ReferenceLine:
    values = {
        (CLASSIFIER_ACCURACY_AS if name == "classifier_accuracy" else name): float(value)
        for name, value in recorded.items()
        if value is not None and name != "samples"
    }
    return ReferenceLine(kind, KIND_LABELS[kind], dataset, samples, values)
