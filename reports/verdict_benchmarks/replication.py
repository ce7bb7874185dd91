"""Replication of the report's verdicts: does a lead called on seeds 0-2 hold on seeds 3-5?

    python -m bench run --suite standard --seeds 0,1,2 --out results/standard-0-2
    python -m bench run --suite standard --seeds 3,4,5 --out results/standard-3-5
    python -m reports.verdict_benchmarks.replication results/standard-0-2 \
        results/standard-3-5 --out reports/verdict_benchmarks/replication.json

Each folder is judged by the report's own code. Every claim one folder makes is tested again,
by the same test and correction, on the other folder's runs of the same implementations:

- a "which to choose" card that calls a winner claims the pick beats each other candidate;
  on the other folder the pick is compared with the same candidates, as one family;
- a PyTorch-against-TensorFlow comparison that is called claims its direction; the other
  folder's framework section gives its own outcome for the same check.

A claim *held* when the other folder calls the same direction, is *not called* when the
other folder finds it too close, and is *reversed* when the other folder calls the opposite
direction. Issue 19 asks that none is reversed; the count that held is reported.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.catalogue import IMAGES_PER_S
from bench.results import Row, read_rows
from reports.aggregate import Implementation, feature_space, group_implementations, quality_metric
from reports.sections.choose import Lead, choices
from reports.sections.frameworks import framework_twins
from reports.significance import Outcome, Pair, compare_family
from reports.verdict_benchmarks import emit_json

OPPOSITE = {Outcome.HIGHER: Outcome.LOWER, Outcome.LOWER: Outcome.HIGHER}


@dataclass(frozen=True)
class Claim:
    """One called verdict: `first` is `outcome` (higher/lower) than `second` on `metric`."""

    kind: str  # "card: <question>" or "frameworks"
    metric: str  # row field
    first: str  # implementation label
    second: str
    outcome: str  # Outcome.value of first against second
    scale: str


@dataclass(frozen=True)
class Retest:
    claim: Claim
    outcome: str  # the other folder's Outcome.value for the same comparison
    verdict: str  # "held", "not called" or "reversed"


def claims(rows: Sequence[Row]) -> list[Claim]:
    """Every verdict the report calls on these rows, as comparisons of two implementations."""
    implementations = group_implementations(rows)
    quality = quality_metric(implementations, feature_space(rows))
    found = []
    metrics = {
        "Best quality": quality.metric if quality else "",
        "Highest throughput": IMAGES_PER_S.name,
    }
    for choice in choices(implementations, quality):
        metric = metrics.get(choice.question)
        if choice.lead is not Lead.CLEAR or not metric:
            continue  # the per-second card's figure is derived per folder; not re-testable
        for other, difference in choice.differences:
            found.append(
                Claim(
                    f"card: {choice.question}",
                    metric,
                    choice.pick.label,  # type: ignore[union-attr]
                    other.label,
                    difference.outcome.value,
                    difference.scale,
                )
            )
    for twin in framework_twins(implementations, quality):
        checks = [(IMAGES_PER_S.name, twin.speed)]
        if quality is not None and twin.quality is not None:
            checks.append((quality.metric, twin.quality))
        for metric, difference in checks:
            if difference.called:
                found.append(
                    Claim(
                        "frameworks",
                        metric,
                        twin.torch.label,
                        twin.tf.label,
                        difference.outcome.value,
                        difference.scale,
                    )
                )
    return found


def retest(found: Sequence[Claim], rows: Sequence[Row]) -> list[Retest]:
    """Each claim tested again on other rows, families as the report made them."""
    by_label = {impl.label: impl for impl in group_implementations(rows)}
    families: dict[tuple[str, str], list[Claim]] = {}
    for claim in found:
        families.setdefault((claim.kind, claim.metric), []).append(claim)
    results = []
    for (kind, _), members in families.items():
        if kind == "frameworks":
            family = [c for c in found if c.kind == "frameworks"]  # one family, as the report
        else:
            family = members
        outcomes = _outcomes(family, by_label)
        for claim in members:
            outcome = outcomes[family.index(claim)]
            results.append(Retest(claim, outcome.value, _verdict(claim, outcome)))
    return results


def _outcomes(family: Sequence[Claim], by_label: dict[str, Implementation]) -> list[Outcome]:
    present = [c.first in by_label and c.second in by_label for c in family]
    pairs = [
        Pair(
            by_label[c.first].seed_values(c.metric),
            by_label[c.second].seed_values(c.metric),
            c.scale,
        )
        for c, here in zip(family, present, strict=True)
        if here
    ]
    tested = iter(compare_family(pairs))
    return [next(tested).outcome if here else Outcome.UNTESTABLE for here in present]


def _verdict(claim: Claim, outcome: Outcome) -> str:
    if outcome.value == claim.outcome:
        return "held"
    if outcome is OPPOSITE.get(Outcome(claim.outcome)):
        return "reversed"
    return "not called"


def summary(retests: Sequence[Retest]) -> dict:
    counts = {v: sum(r.verdict == v for r in retests) for v in ("held", "not called", "reversed")}
    return {"claims": len(retests), **counts, "details": [asdict(r) for r in retests]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="results folder of seeds 0-2")
    parser.add_argument("second", type=Path, help="results folder of seeds 3-5")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    try:
        first, second = read_rows(args.first), read_rows(args.second)
    except ValueError as error:
        print(f"replication: {error}", file=sys.stderr)
        return 2
    for folder, rows in ((args.first, first), (args.second, second)):
        if not rows:
            print(
                f"replication: results folder {folder} has no rows (rows/*.json)", file=sys.stderr
            )
            return 2
    result = {
        "first": str(args.first),
        "second": str(args.second),
        "first_to_second": summary(retest(claims(first), second)),
        "second_to_first": summary(retest(claims(second), first)),
    }
    return emit_json(result, args.out)


if __name__ == "__main__":
    sys.exit(main())
