"""A/A benchmark of the report's verdicts: how often they call a winner where there is none.

    python -m bench run --suite reports/verdict_benchmarks/aa.toml --jobs 2 --out results/aa
    python -m reports.verdict_benchmarks.aa results/aa --out reports/verdict_benchmarks/aa.json

The suite trains many seeds of two implementations (vanilla and dcgan in PyTorch). Each
trial draws 6 of each implementation's seeds without replacement and splits them 3 against
3 into two pretend implementations that differ only in their label: one is called "torch",
the other "tf". Then the report's own code (reports.sections.choose.choices and
reports.sections.frameworks.framework_twins) judges the four pretend implementations, as it
would a real results folder:

- every "which to choose" card whose pick has its own pretend twin among the candidates
  makes a false call when it calls a winner (its lead is CLEAR): a winner beats every
  other candidate, the twin included, and the twin is the same implementation;
- every PyTorch-against-TensorFlow comparison it calls (speed or quality) is false.

The false-call rate of each is reported with its exact (Clopper-Pearson) 95% interval. The
trials share the runs they resample, so they are not independent: the interval says how
well the trials pin the rate on these runs, not how far it would move on new ones.

A planted effect then checks the other side: the "tf" side's images/s scaled by
1 / `SPEED_FACTOR` and its quality by `QUALITY_FACTOR`; the rate at which the framework
section calls each in the right direction is its detection rate at that effect size.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import stats

from bench.results import Row, read_rows
from reports.aggregate import feature_space, group_implementations, quality_metric
from reports.sections.choose import Lead, choices
from reports.sections.frameworks import framework_twins
from reports.significance import ALPHA, Outcome
from reports.verdict_benchmarks import emit_json

CALLED = (Outcome.HIGHER, Outcome.LOWER)

PER_SIDE = 3  # seeds per pretend implementation, as the report's suites run
SIDES = ("torch", "tf")  # the pretend implementations' labels
SPEED_FACTOR = 1.5  # planted: the "tf" side this many times slower
QUALITY_FACTOR = 1.5  # planted: the "tf" side's quality figure this many times larger
LIMIT = ALPHA  # issue 19: the cards may call a winner in at most 5% of the cases


@dataclasses.dataclass(frozen=True)
class Rate:
    """Calls out of trials, with the exact binomial 95% interval of the rate."""

    calls: int
    trials: int
    rate: float
    low: float
    high: float

    @classmethod
    def of(cls, calls: int, trials: int) -> Rate:
        interval = stats.binomtest(calls, trials).proportion_ci(0.95, method="exact")
        return cls(calls, trials, calls / trials, float(interval.low), float(interval.high))


def pretend_rows(rows: Sequence[Row], rng: np.random.Generator) -> list[Row]:
    """Per variant, 2 x PER_SIDE of its seeds drawn without replacement, relabelled as two
    implementations ("torch" and "tf") with seeds 0..PER_SIDE-1 each."""
    by_variant: dict[str, list[Row]] = {}
    for row in rows:
        by_variant.setdefault(row.variant, []).append(row)
    pretend = []
    for variant, members in sorted(by_variant.items()):
        if len(members) < 2 * PER_SIDE:
            raise ValueError(f"{variant}: {len(members)} ok runs; need {2 * PER_SIDE} or more")
        chosen = rng.choice(len(members), 2 * PER_SIDE, replace=False)
        for index, member in enumerate(chosen):
            side, seed = SIDES[index // PER_SIDE], index % PER_SIDE
            pretend.append(
                dataclasses.replace(
                    members[member],
                    framework=side,
                    seed=seed,
                    run_id=f"{variant}-{side}-s{seed}",
                )
            )
    return pretend


def planted(rows: Sequence[Row], metric: str) -> list[Row]:
    """The "tf" side SPEED_FACTOR times slower and its `metric` QUALITY_FACTOR times larger."""
    changed = []
    for row in rows:
        if row.framework == SIDES[1]:
            row = dataclasses.replace(
                row,
                images_per_s=row.images_per_s / SPEED_FACTOR,  # type: ignore[operator]
                **{metric: getattr(row, metric) * QUALITY_FACTOR},
            )
        changed.append(row)
    return changed


def judge(rows: Sequence[Row]) -> tuple[dict[str, bool], dict[str, Outcome]]:
    """The report's verdicts on these rows: card question -> winner called, and twin check ->
    its outcome (torch against tf)."""
    implementations = group_implementations(rows)
    quality = quality_metric(implementations, feature_space(rows))
    cards = {c.question: c.lead is Lead.CLEAR for c in choices(implementations, quality)}
    twins = {}
    for twin in framework_twins(implementations, quality):
        twins[f"{twin.label}: speed"] = twin.speed.outcome
        if twin.quality is not None:
            twins[f"{twin.label}: quality"] = twin.quality.outcome
    return cards, twins


def run(rows: Sequence[Row], trials: int, seed: int) -> dict:
    """Every trial's verdicts, counted; the planted trials' detections, counted."""
    rng = np.random.default_rng(seed)
    ok = [row for row in rows if row.status == "ok"]
    card_calls: Counter[str] = Counter()
    twin_calls: Counter[str] = Counter()
    detections: Counter[str] = Counter()
    any_call = 0
    quality = quality_metric(group_implementations(ok), feature_space(ok))
    if quality is None:
        raise ValueError("no run recorded a quality metric: nothing to judge")
    metric = quality.metric
    for _ in range(trials):
        pretend = pretend_rows(ok, rng)
        cards, twins = judge(pretend)
        card_calls.update(question for question, called in cards.items() if called)
        twin_calls.update(check for check, outcome in twins.items() if outcome in CALLED)
        any_call += any(cards.values()) or any(o in CALLED for o in twins.values())
        _, planted_twins = judge(planted(pretend, metric))
        detections.update(
            check
            for check, outcome in planted_twins.items()
            if outcome is (Outcome.HIGHER if check.endswith("speed") else Outcome.LOWER)
        )
    cards, twins = judge(pretend_rows(ok, np.random.default_rng(seed)))
    return {
        "trials": trials,
        "per_side": PER_SIDE,
        "alpha": ALPHA,
        "limit": LIMIT,
        "quality_metric": metric,
        "runs": {v: sum(r.variant == v for r in ok) for v in sorted({r.variant for r in ok})},
        "cards": {q: dataclasses.asdict(Rate.of(card_calls[q], trials)) for q in cards},
        "framework_checks": {c: dataclasses.asdict(Rate.of(twin_calls[c], trials)) for c in twins},
        "any_false_call_in_report": dataclasses.asdict(Rate.of(any_call, trials)),
        "planted": {
            "speed_factor": SPEED_FACTOR,
            "quality_factor": QUALITY_FACTOR,
            "detection": {c: dataclasses.asdict(Rate.of(detections[c], trials)) for c in twins},
        },
        "cards_within_limit": all(card_calls[q] / trials <= LIMIT for q in cards),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results folder of the A/A suite")
    parser.add_argument("--trials", type=int, default=2000, help="resampled 3-against-3 trials")
    parser.add_argument("--seed", type=int, default=0, help="seed of the resampling")
    parser.add_argument("--out", type=Path, help="write the JSON here (default: stdout)")
    args = parser.parse_args(argv)
    if args.trials < 1:
        print(f"--trials {args.trials}: must be >= 1", file=sys.stderr)
        return 2
    try:
        rows = read_rows(args.results)
        if not rows:
            raise ValueError(f"results folder {args.results} has no rows (rows/*.json)")
        summary = run(rows, args.trials, args.seed)
    except ValueError as error:
        print(f"aa: {error}", file=sys.stderr)
        return 2
    return emit_json(summary, args.out)


if __name__ == "__main__":
    sys.exit(main())
