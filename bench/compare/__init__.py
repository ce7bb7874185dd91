"""Regression check: hold the rows of a run against a baseline's, identity by identity.

Rows are matched by identity (variant, framework, dataset, device kind,
precision, compile mode, batch size) and pooled over seeds. Each identity
gets one verdict (a `Verdict` value), the worst of its checks:

- throughput: the median images/s over every timing window of every seed.
  `slower` (or `faster`) needs both: the median moved by more than the
  tolerance (default: derived from the window and seed spread both sides
  show, never below 5%; bench/noise_tolerance.py), and the move is
  larger than the inter-quartile range (IQR, 75th minus 25th percentile) of
  the windows of each run, so noise does not cry wolf. On a CPU, and
  wherever the two sides ran on differently named devices, the figure is
  `images_per_s_relative` (throughput over a reference matmul timed in the
  same process); `images_per_s` only where both sides ran on one named GPU
  or rows lack the reference kernel. The output says which it used.
  (bench/compare/throughput.py)
- work: the catalogue's work metrics (FLOPs per step, parameter counts) are
  deterministic, so any change is a regression (`changed`), no tolerance.
- quality: per gated catalogue metric, the mean over seeds. `worse` (or
  `better`) when it moved the wrong (right) way by more than max(the metric's
  floor, max_quality_loss_pct of the baseline mean, 2 x the pooled seed std).
  Compared only when both sides trained the same steps on the same samples.
  (bench/compare/quality.py)
- `failed`: a current run of the identity did not finish ok (an `unsupported`
  combination is `same` when the baseline could not run it either).
- `new` / `missing`: the identity is only in the current run / the baseline.

Regressions are failed, changed, slower and worse. The verdicts become text only
at the edges (bench/compare/text.py, the report's cell). This package imports
neither torch nor tensorflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bench.catalogue import Kind, of_kind
from bench.compare.quality import quality_checks, work_check
from bench.compare.text import format_comparison
from bench.compare.throughput import (
    iqr,
    same_device_rows,
    throughput_check,
)
from bench.compare.verdicts import (
    REGRESSIONS,
    THROUGHPUT,
    VERDICTS,
    Check,
    Comparison,
    Identity,
    IdentityComparison,
    Verdict,
    worst,
)
from bench.results import Row

__all__ = [
    "DEFAULT_MAX_QUALITY_LOSS_PCT",
    "REGRESSIONS",
    "THROUGHPUT",
    "UNSUPPORTED",
    "VERDICTS",
    "Check",
    "CompareError",
    "Comparison",
    "Identity",
    "IdentityComparison",
    "Verdict",
    "compare_identity",
    "compare_rows",
    "format_comparison",
    "iqr",
]

DEFAULT_MAX_QUALITY_LOSS_PCT = 5.0
UNSUPPORTED = "unsupported"  # a row status: the combination cannot run, so it never did


class CompareError(ValueError):
    """Inputs that cannot be compared: no rows, or no identity in common."""


def compare_rows(
    baseline: Sequence[Row],
    current: Sequence[Row],
    max_slowdown_pct: float | None = None,
    max_quality_loss_pct: float = DEFAULT_MAX_QUALITY_LOSS_PCT,
) -> Comparison:
    """Verdicts for every identity in either side; CompareError when none is in both.

    max_slowdown_pct None: the tolerance comes from the noise the inputs show
    (bench/noise_tolerance.py).
    """
    if not baseline:
        raise CompareError("the baseline holds no rows")
    if not current:
        raise CompareError("the current run holds no rows")
    if max_slowdown_pct is not None and not max_slowdown_pct > 0:
        raise CompareError(f"max slowdown {max_slowdown_pct}%; must be > 0")
    if not max_quality_loss_pct >= 0:
        raise CompareError(f"max quality loss {max_quality_loss_pct}%; must be >= 0")
    baseline_groups, current_groups = _group(baseline), _group(current)
    if not set(baseline_groups) & set(current_groups):
        raise CompareError(
            f"no row of the current run matches a baseline row by identity (variant, "
            f"framework, dataset, device, precision, compile, batch size); baseline has "
            f"{_some(baseline_groups)}, current has {_some(current_groups)}"
        )
    entries = []
    for identity in sorted(set(baseline_groups) | set(current_groups)):
        if identity not in current_groups:
            entries.append(
                IdentityComparison(identity, Verdict.MISSING, note="not in the current run")
            )
        elif identity not in baseline_groups:
            entries.append(IdentityComparison(identity, Verdict.NEW, note="not in the baseline"))
        else:
            entries.append(
                compare_identity(
                    identity,
                    baseline_groups[identity],
                    current_groups[identity],
                    max_slowdown_pct,
                    max_quality_loss_pct,
                )
            )
    return Comparison(tuple(entries))


def compare_identity(
    identity: Identity,
    baseline: list[Row],
    current: list[Row],
    max_slowdown_pct: float | None,
    max_quality_loss_pct: float,
) -> IdentityComparison:
    """One identity's checks and verdict (the worst check)."""
    if all(row.status == UNSUPPORTED for row in [*baseline, *current]):
        return IdentityComparison(identity, Verdict.SAME, note="unsupported in both (not run)")
    not_ok = [row for row in current if row.status != "ok"]
    if not_ok:
        first = not_ok[0]
        return IdentityComparison(
            identity,
            Verdict.FAILED,
            note=f"{len(not_ok)} of {len(current)} current runs not ok: seed {first.seed} "
            f"{first.status}: {first.error or 'no error recorded'}",
        )
    baseline_ok = [row for row in baseline if row.status == "ok"]
    if not baseline_ok:
        return IdentityComparison(identity, Verdict.NEW, note="no baseline run of it finished ok")
    baseline_ok, device_note = same_device_rows(baseline_ok, current)
    checks = [
        throughput_check(baseline_ok, current, max_slowdown_pct),
        *(work_check(metric, baseline_ok, current) for metric in of_kind(Kind.WORK)),
        *quality_checks(baseline_ok, current, max_quality_loss_pct),
    ]
    verdict = worst([c.verdict for c in checks])
    return IdentityComparison(identity, verdict, tuple(checks), note=device_note)


def _group(rows: Iterable[Row]) -> dict[Identity, list[Row]]:
    groups: dict[Identity, list[Row]] = {}
    for row in rows:
        groups.setdefault(Identity.of(row), []).append(row)
    return groups


def _some(groups: dict[Identity, list[Row]]) -> str:
    names = [str(identity) for identity in sorted(groups)]
    return "; ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
