"""Regression check: hold the rows of a run against a baseline's, identity by identity.

Rows are matched by identity (variant, framework, dataset, device kind,
precision, compile mode, batch size) and pooled over seeds. Each identity
gets one verdict, the worst of its checks:

- throughput: the median images/s over every timing window of every seed.
  `slower` (or `faster`) needs both: the median moved by more than the
  tolerance (default 25% on a CPU, where two processes on a 2-core machine
  were seen 40% apart for the same step, 5% on a GPU), and the move is
  larger than the inter-quartile range (IQR, 75th minus 25th percentile) of
  the windows of each run, so noise does not cry wolf. On a CPU, and
  wherever the two sides ran on differently named devices, the figure is
  `images_per_s_relative` (throughput over a reference matmul timed in the
  same process); `images_per_s` only where both sides ran on one named GPU
  or rows lack the reference kernel. The output says which it used.
- work: `flops_per_step`, `params_generator`, `params_discriminator` are
  deterministic, so any change is a regression (`changed`), no tolerance.
- quality: per metric, the mean over seeds. `worse` (or `better`) when it
  moved the wrong (right) way by more than max(the metric's floor,
  max_quality_loss_pct of the baseline mean, 2 x the pooled seed std).
  Compared only when both sides trained the same steps on the same samples.
- `failed`: a current run of the identity did not finish ok (an `unsupported`
  combination is `same` when the baseline could not run it either).
- `new` / `missing`: the identity is only in the current run / the baseline.

Regressions are failed, changed, slower and worse. This module imports
neither torch nor tensorflow.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import SCHEMA_VERSION, Identity, ResultsError, Row, read_rows

# verdicts, worst first: an identity's verdict is the worst of its checks
FAILED, CHANGED, SLOWER, WORSE = "failed", "changed", "slower", "worse"
FASTER, BETTER, SAME, NEW, MISSING = "faster", "better", "same", "new", "missing"
NOT_COMPARED = "n/a"  # a check with nothing to compare (a null figure, other steps)
VERDICTS: tuple[str, ...] = (FAILED, CHANGED, SLOWER, WORSE, FASTER, BETTER, SAME, NEW, MISSING)
REGRESSIONS: frozenset[str] = frozenset({FAILED, CHANGED, SLOWER, WORSE})
UNSUPPORTED = "unsupported"  # a row status: the combination cannot run, so it never did

DEFAULT_MAX_SLOWDOWN_PCT: dict[str, float] = {"cpu": 25.0, "cuda": 5.0}
DEFAULT_MAX_QUALITY_LOSS_PCT = 5.0
QUALITY_SEED_STDS = 2.0  # a quality move must exceed this many pooled seed stds

IMAGES_PER_S = "images_per_s"
IMAGES_PER_S_RELATIVE = "images_per_s_relative"
WORK_FIELDS: tuple[str, ...] = ("flops_per_step", "params_generator", "params_discriminator")
BASELINE_KEYS: tuple[str, ...] = ("schema_version", "rows", "source", "saved_at")


class CompareError(ValueError):
    """Inputs that cannot be compared: no rows, or no identity in common."""


@dataclass(frozen=True)
class QualityMetric:
    name: str  # a Row field
    higher_is_better: bool
    floor: float  # smallest move called a change, in the metric's units


QUALITY_METRICS: tuple[QualityMetric, ...] = (
    QualityMetric("fid_classifier", higher_is_better=False, floor=1.0),
    QualityMetric("fid_inception", higher_is_better=False, floor=1.0),
    QualityMetric("kid_classifier", higher_is_better=False, floor=0.001),
    QualityMetric("kid_inception", higher_is_better=False, floor=0.001),
    QualityMetric("parzen_ll", higher_is_better=True, floor=2.0),  # nats (Goodfellow: +/- 2)
    QualityMetric("cond_accuracy", higher_is_better=True, floor=0.01),
    QualityMetric("ssl_accuracy", higher_is_better=True, floor=0.01),
    QualityMetric("probe_accuracy", higher_is_better=True, floor=0.01),
)


@dataclass(frozen=True)
class Check:
    """One figure of one identity, baseline against current, and what it means."""

    name: str  # "throughput", a WORK_FIELDS name or a quality metric
    verdict: str  # faster/slower/better/worse/changed/same, or NOT_COMPARED
    baseline: float | None = None
    current: float | None = None
    change_pct: float | None = None  # (current - baseline) / baseline, percent
    threshold: float | None = None  # the move that counts: percent for throughput, else units
    note: str = ""  # why: the figure's reason, the metric's direction, what was not compared
    figure: str | None = None  # throughput: IMAGES_PER_S or IMAGES_PER_S_RELATIVE
    spread_baseline: float | None = None  # throughput: window IQR, in the figure's units
    spread_current: float | None = None


@dataclass(frozen=True)
class IdentityComparison:
    identity: Identity
    verdict: str
    checks: tuple[Check, ...] = ()
    note: str = ""

    @property
    def regressed(self) -> bool:
        return self.verdict in REGRESSIONS

    def check(self, name: str) -> Check | None:
        return next((c for c in self.checks if c.name == name), None)


@dataclass(frozen=True)
class Comparison:
    identities: tuple[IdentityComparison, ...]

    @property
    def regressed(self) -> bool:
        return any(entry.regressed for entry in self.identities)

    def counts(self) -> dict[str, int]:
        """Verdict -> identities, in VERDICTS order, zero counts left out."""
        found = [entry.verdict for entry in self.identities]
        return {verdict: found.count(verdict) for verdict in VERDICTS if verdict in found}

    def verdict_of(self, identity_text: str) -> str:
        """The verdict of the identity whose str() starts with identity_text (tests, reports)."""
        for entry in self.identities:
            if str(entry.identity).startswith(identity_text):
                return entry.verdict
        raise KeyError(identity_text)


def compare_rows(
    baseline: Sequence[Row],
    current: Sequence[Row],
    max_slowdown_pct: float | None = None,
    max_quality_loss_pct: float = DEFAULT_MAX_QUALITY_LOSS_PCT,
) -> Comparison:
    """Verdicts for every identity in either side; CompareError when none is in both.

    max_slowdown_pct None means the device's default (DEFAULT_MAX_SLOWDOWN_PCT).
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
            entries.append(IdentityComparison(identity, MISSING, note="not in the current run"))
        elif identity not in baseline_groups:
            entries.append(IdentityComparison(identity, NEW, note="not in the baseline"))
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
        return IdentityComparison(identity, SAME, note="unsupported in both (not run)")
    not_ok = [row for row in current if row.status != "ok"]
    if not_ok:
        first = not_ok[0]
        return IdentityComparison(
            identity,
            FAILED,
            note=f"{len(not_ok)} of {len(current)} current runs not ok: seed {first.seed} "
            f"{first.status}: {first.error or 'no error recorded'}",
        )
    baseline_ok = [row for row in baseline if row.status == "ok"]
    if not baseline_ok:
        return IdentityComparison(identity, NEW, note="no baseline run of it finished ok")
    baseline_ok, device_note = _same_device_rows(baseline_ok, current)
    tolerance_pct = (
        max_slowdown_pct
        if max_slowdown_pct is not None
        else DEFAULT_MAX_SLOWDOWN_PCT.get(identity.device, DEFAULT_MAX_SLOWDOWN_PCT["cpu"])
    )
    checks = [
        throughput_check(baseline_ok, current, tolerance_pct),
        *(work_check(name, baseline_ok, current) for name in WORK_FIELDS),
        *quality_checks(baseline_ok, current, max_quality_loss_pct),
    ]
    verdict = _worst([c.verdict for c in checks])
    return IdentityComparison(identity, verdict, tuple(checks), note=device_note)


def throughput_check(baseline: list[Row], current: list[Row], tolerance_pct: float) -> Check:
    """Median over pooled windows; a change must beat the tolerance and both runs' IQR."""
    figure, why = throughput_figure(baseline, current)
    baseline_windows = figure_windows(baseline, figure)
    current_windows = figure_windows(current, figure)
    if not baseline_windows or not current_windows:
        return Check("throughput", NOT_COMPARED, note="no timing windows on one side")
    baseline_median = float(np.median(baseline_windows))
    current_median = float(np.median(current_windows))
    if baseline_median <= 0:
        return Check("throughput", NOT_COMPARED, note=f"baseline {figure} is {baseline_median}")
    baseline_iqr, current_iqr = iqr(baseline_windows), iqr(current_windows)
    change_pct = 100.0 * (current_median / baseline_median - 1.0)
    move = abs(current_median - baseline_median)
    beyond_spread = move > baseline_iqr and move > current_iqr
    verdict = SAME
    if beyond_spread and change_pct < -tolerance_pct:
        verdict = SLOWER
    elif beyond_spread and change_pct > tolerance_pct:
        verdict = FASTER
    return Check(
        "throughput",
        verdict,
        baseline_median,
        current_median,
        change_pct,
        threshold=tolerance_pct,
        note=why,
        figure=figure,
        spread_baseline=baseline_iqr,
        spread_current=current_iqr,
    )


def throughput_figure(baseline: list[Row], current: list[Row]) -> tuple[str, str]:
    """Which throughput to compare, and why: relative on a CPU or across device names."""
    rows = [*baseline, *current]
    reasons = []
    if any(row.device == "cpu" for row in rows):
        reasons.append("cpu")
    if len({row.device_name for row in rows}) > 1:
        reasons.append("device names differ")
    if not reasons:
        return IMAGES_PER_S, "one device name"
    reason = ", ".join(reasons)
    if all(row.reference_gflop_per_s for row in rows):
        return IMAGES_PER_S_RELATIVE, reason
    return IMAGES_PER_S, f"{reason}, but rows lack the reference kernel"


def figure_windows(rows: list[Row], figure: str) -> list[float]:
    """Every timing window's figure, pooled over rows (a row without windows gives its median)."""
    values: list[float] = []
    for row in rows:
        windows = row.images_per_s_windows or (
            [row.images_per_s] if row.images_per_s is not None else []
        )
        scale = row.reference_gflop_per_s if figure == IMAGES_PER_S_RELATIVE else 1.0
        values.extend(w / scale for w in windows if w is not None and math.isfinite(w))
    return values


def iqr(values: Sequence[float]) -> float:
    """Inter-quartile range (linear interpolation): the spread one noisy window cannot stretch."""
    q25, q75 = np.percentile(values, [25, 75])
    return float(q75 - q25)


def work_check(name: str, baseline: list[Row], current: list[Row]) -> Check:
    """A deterministic count: any difference is a regression, there is no noise to allow."""
    before = sorted({getattr(row, name) for row in baseline} - {None})
    after = sorted({getattr(row, name) for row in current} - {None})
    if not before or not after:
        return Check(name, NOT_COMPARED, note="not recorded on one side")
    if before == after:
        return Check(name, SAME, before[0], after[0], 0.0)
    change_pct = 100.0 * (after[0] / before[0] - 1.0) if before[0] else None
    note = "any change is a regression"
    if len(before) > 1 or len(after) > 1:
        note += f"; values {_values(before)} -> {_values(after)}"
    return Check(name, CHANGED, before[0], after[0], change_pct, note=note)


def quality_checks(
    baseline: list[Row], current: list[Row], max_quality_loss_pct: float
) -> list[Check]:
    """Each quality metric recorded on both sides, judged against the seed spread."""
    trained = _training_length(baseline), _training_length(current)
    checks = []
    for metric in QUALITY_METRICS:
        before = _finite(getattr(row, metric.name) for row in baseline)
        after = _finite(getattr(row, metric.name) for row in current)
        if not before or not after:
            continue
        if trained[0] != trained[1]:
            note = f"not compared: (steps, eval samples) {trained[0]} vs {trained[1]}"
            checks.append(Check(metric.name, NOT_COMPARED, note=note))
            continue
        checks.append(quality_check(metric, before, after, max_quality_loss_pct))
    return checks


def quality_check(
    metric: QualityMetric, before: list[float], after: list[float], max_quality_loss_pct: float
) -> Check:
    """Worse/better when the mean moves by more than max(floor, pct of baseline, k seed stds)."""
    baseline_mean, current_mean = float(np.mean(before)), float(np.mean(after))
    seed_std = pooled_std(before, after)
    threshold = max(
        metric.floor,
        max_quality_loss_pct / 100.0 * abs(baseline_mean),
        QUALITY_SEED_STDS * seed_std,
    )
    gain = current_mean - baseline_mean
    if not metric.higher_is_better:
        gain = -gain
    verdict = WORSE if gain < -threshold else BETTER if gain > threshold else SAME
    change_pct = 100.0 * (current_mean / baseline_mean - 1.0) if baseline_mean else None
    direction = "higher" if metric.higher_is_better else "lower"
    return Check(
        metric.name,
        verdict,
        baseline_mean,
        current_mean,
        change_pct,
        threshold,
        note=f"{direction} is better; n {len(before)} | {len(after)}, seed std {_num(seed_std)}",
    )


def pooled_std(first: Sequence[float], second: Sequence[float]) -> float:
    """Seed-to-seed std pooled over both sides; 0 when neither has two seeds."""
    dof = len(first) + len(second) - 2
    if dof <= 0:
        return 0.0
    squares = sum(float(np.var(v, ddof=0)) * len(v) for v in (first, second))
    return math.sqrt(squares / dof)


def format_comparison(comparison: Comparison, baseline_name: str, current_name: str) -> str:
    """The verdicts as text: one line per identity, indented lines for what changed."""
    lines = [
        f"regression check: {current_name} against the baseline {baseline_name}",
        "throughput: median over timing windows; slower/faster only beyond the tolerance "
        "and the window IQR of both runs",
        "",
    ]
    width = max(len(str(entry.identity)) for entry in comparison.identities)
    for entry in comparison.identities:
        throughput = entry.check("throughput")
        summary = entry.note
        if throughput is not None and throughput.verdict != NOT_COMPARED:
            summary = (
                f"throughput {_pct(throughput.change_pct)}: {throughput.figure} "
                f"({throughput.note}) {_num(throughput.baseline)} -> {_num(throughput.current)}, "
                f"window IQR {_num(throughput.spread_baseline)} | "
                f"{_num(throughput.spread_current)}, tolerance {throughput.threshold:g}%"
            )
        lines.append(f"{entry.verdict:<8} {entry.identity!s:<{width}}  {summary}")
        details = [c for c in entry.checks if c.name != "throughput" and c.verdict != SAME]
        if throughput is not None and throughput.verdict == NOT_COMPARED:
            details.insert(0, throughput)
        for check in details:
            lines.append(f"{'':<8}   {_check_text(check)}")
        if entry.note and summary != entry.note:
            lines.append(f"{'':<8}   {entry.note}")
    counts = ", ".join(f"{n} {verdict}" for verdict, n in comparison.counts().items())
    outcome = "REGRESSION" if comparison.regressed else "no regression"
    lines += ["", f"{outcome}: {counts}"]
    return "\n".join(lines)


def _check_text(check: Check) -> str:
    if check.verdict == NOT_COMPARED:
        return f"{check.name}: {check.note}"
    threshold = "" if check.threshold is None else f", threshold {_num(check.threshold)}"
    return (
        f"{check.name} {check.verdict}: {_num(check.baseline)} -> {_num(check.current)} "
        f"({_pct(check.change_pct)}{threshold}; {check.note})"
    )


def load_rows(path: Path) -> list[Row]:
    """Rows of a results folder (rows/*.json) or of a baseline file; ResultsError otherwise."""
    path = Path(path)
    if path.is_dir():
        rows = read_rows(path)
        if not rows:
            raise ResultsError(f"{path}: no rows/*.json; expected a results folder or a baseline")
        return rows
    try:
        values = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: not a readable results folder or baseline ({error})") from None
    if not isinstance(values, dict) or not isinstance(values.get("rows"), list):
        raise ResultsError(
            f"{path}: not a baseline file; expected "
            f'{{"schema_version": {SCHEMA_VERSION}, "rows": [...]}} or a results folder'
        )
    if values.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema_version {values.get('schema_version')!r}; this ganbench reads "
            f"version {SCHEMA_VERSION} (save the baseline again with this version)"
        )
    unknown = sorted(set(values) - set(BASELINE_KEYS))
    if unknown:
        raise ResultsError(f"{path}: unknown keys {unknown}; allowed: {', '.join(BASELINE_KEYS)}")
    return [
        Row.from_dict(row, source=f"{path} rows[{i}]") if isinstance(row, dict) else _bad(path, i)
        for i, row in enumerate(values["rows"])
    ]


def save_baseline(results_dir: Path, baseline_file: Path) -> list[Row]:
    """Write a results folder's rows as one baseline file; every row must be ok or unsupported.

    Sample grids are dropped (the check never reads them and they would bloat a committed
    file); everything else is kept as the row says.
    """
    rows = load_rows(results_dir)
    not_ok = [row for row in rows if row.status not in ("ok", UNSUPPORTED)]
    if not_ok:
        raise ResultsError(
            f"{results_dir}: {len(not_ok)} rows not ok (first: {not_ok[0].run_id} "
            f"{not_ok[0].status}); a baseline must be all ok (or unsupported), rerun with "
            "--retry-failed"
        )
    document = {
        "schema_version": SCHEMA_VERSION,
        "source": str(results_dir),
        "saved_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "rows": [replace(row, sample_grid_png=None).to_dict() for row in rows],
    }
    _write_atomically(Path(baseline_file), json.dumps(document, indent=1, allow_nan=False) + "\n")
    return rows


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _bad(path: Path, index: int) -> Row:
    raise ResultsError(f"{path}: rows[{index}] is not a JSON object")


def _group(rows: Iterable[Row]) -> dict[Identity, list[Row]]:
    groups: dict[Identity, list[Row]] = {}
    for row in rows:
        groups.setdefault(Identity.of(row), []).append(row)
    return groups


def _same_device_rows(baseline: list[Row], current: list[Row]) -> tuple[list[Row], str]:
    """Baseline rows on the current rows' device names when it has them; else all, noted."""
    current_names = {row.device_name for row in current}
    matching = [row for row in baseline if row.device_name in current_names]
    if matching:
        return matching, ""
    baseline_names = sorted({str(row.device_name) for row in baseline})
    return baseline, (
        f"device names differ: baseline {', '.join(baseline_names)}; "
        f"current {', '.join(sorted(str(n) for n in current_names))}"
    )


def _training_length(rows: list[Row]) -> set[tuple[int, int | None]]:
    return {(row.steps, row.eval_samples) for row in rows}


def _worst(verdicts: list[str]) -> str:
    ranked = [v for v in verdicts if v in VERDICTS]
    return min(ranked, key=VERDICTS.index) if ranked else SAME


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def _some(groups: dict[Identity, list[Row]]) -> str:
    names = [str(identity) for identity in sorted(groups)]
    return "; ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _values(values: list[Any]) -> str:
    return "/".join(f"{v:,}" if isinstance(v, int) else str(v) for v in values)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if value == 0 or 0.01 <= abs(value) < 1e6:
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}%"
