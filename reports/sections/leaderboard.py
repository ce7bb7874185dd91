"""The leaderboard: one line per implementation, a column per catalogue metric.

A figure is mean ± std over the ok seeds; a null figure is "—" with its reason
as a footnote. Columns follow LAYOUT (the catalogue entries a reader scans
first, in order), then every other catalogue metric that has a description;
FID and KID are shown in one feature space. A regression verdict, when given,
is one more column, coloured by its `Verdict`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench import catalogue
from bench.catalogue import Metric
from bench.compare.verdicts import IdentityComparison, Verdict
from reports.aggregate import FeatureSpace, Implementation, Stat
from reports.sections.references import ReferenceLine

LAYOUT: tuple[Metric, ...] = (
    catalogue.IMAGES_PER_S,
    catalogue.STEP_MS_P50,
    catalogue.STEP_MS_P90,
    catalogue.COMPILE_S,
    catalogue.PEAK_MEM_MB,
    catalogue.ACHIEVED_GFLOP_PER_S,
    catalogue.MFU,
    catalogue.PARAMS_GENERATOR,
    catalogue.PARZEN_LL,
    catalogue.FID_INCEPTION,
    catalogue.FID_CLASSIFIER,
    catalogue.KID_INCEPTION,
    catalogue.KID_CLASSIFIER,
    catalogue.COND_ACCURACY,
    catalogue.SSL_ACCURACY,
    catalogue.PROBE_ACCURACY,
)
VERDICT_CLASSES: dict[Verdict, str] = {
    Verdict.FASTER: "good",
    Verdict.BETTER: "good",
    Verdict.SAME: "neutral",
    Verdict.INCONCLUSIVE: "warn",
    Verdict.SLOWER: "bad",
    Verdict.WORSE: "bad",
    Verdict.NEW: "info",
    Verdict.MISSING: "warn",
    Verdict.FAILED: "bad",
    Verdict.CHANGED: "bad",
}


@dataclass(frozen=True)
class Cell:
    """One table cell: its text, the value the column sorts by ("" = null), a tooltip."""

    text: str
    sort: str = ""
    title: str = ""
    css: str = ""
    footnote: int | None = None


@dataclass(frozen=True)
class Column:
    header: str
    title: str  # what the column means, shown on hover
    numeric: bool
    cell: Callable[[Implementation], Cell]
    metric: Metric | None = None  # the catalogue metric it shows, where it shows one


NullCell = Callable[[Implementation, str, str], Cell]  # (impl, metric, header) -> "—" cell


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[tuple[Implementation, list[Cell]]]
    footnotes: list[tuple[int, str, str]]  # number, column header, reasons (implementations)
    sorted_by: tuple[str, str] = ("", "")  # (header, "ascending"/"descending") of the first order
    # the yardsticks under the table: (reference, a cell per column; blank where it has none)
    references: list[tuple[ReferenceLine, list[Cell]]] = field(default_factory=list)


def shown_metrics(space: FeatureSpace) -> list[Metric]:
    """LAYOUT, then the catalogue's other described metrics; FID/KID of the shown space only."""
    extra = [m for m in catalogue.CATALOGUE if m.description and m not in LAYOUT]
    return [m for m in (*LAYOUT, *extra) if m.features in (None, space.features)]


def leaderboard_table(
    implementations: Sequence[Implementation],
    space: FeatureSpace,
    verdicts: Mapping[str, IdentityComparison],
    references: Sequence[ReferenceLine] = (),
) -> Table:
    """One line per implementation, then the references; a null figure is "—" with its
    reason as a footnote."""
    footnotes: dict[str, int] = {}  # column header -> footnote number
    reasons: dict[str, dict[str, list[str]]] = {}  # header -> reason -> implementations

    def null_cell(impl: Implementation, metric: str, header: str) -> Cell:
        reason = impl.notes.get(metric, "no value")
        reasons.setdefault(header, {}).setdefault(reason, []).append(impl.label)
        number = footnotes.setdefault(header, len(footnotes) + 1)
        return Cell("—", "", reason, "null", number)

    def metric_column(metric: Metric) -> Column:
        special = SPECIAL_CELLS.get(metric.name)

        def cell(impl: Implementation) -> Cell:
            if special is not None:
                return special(impl, null_cell)
            stat = impl.stat(metric.name)
            if stat.mean is None:
                return null_cell(impl, metric.name, metric.display)
            return stat_cell(stat, metric.fmt, metric.fmt == catalogue.PERCENT)

        return Column(metric.display, metric.description, True, cell, metric)

    columns = [
        Column("implementation", "variant · framework (and what varies)", False, _label_cell),
        Column("status", "runs by status; figures are over the ok runs", False, _status_cell),
        *(metric_column(metric) for metric in shown_metrics(space)),
    ]
    if verdicts:
        columns.append(
            Column(
                "vs baseline",
                "the regression check against the baseline",
                False,
                _verdict(verdicts),
            )
        )
    table_rows = [(impl, [column.cell(impl) for column in columns]) for impl in implementations]
    notes = [
        (
            number,
            header,
            "; ".join(
                f"{reason} ({', '.join(labels)})" for reason, labels in reasons[header].items()
            ),
        )
        for header, number in footnotes.items()
    ]
    fid = (
        catalogue.FID_INCEPTION
        if space.features == catalogue.FID_INCEPTION.features
        else catalogue.FID_CLASSIFIER
    )
    if any(impl.stat(space.fid).mean is not None for impl in implementations):
        sorted_by = (fid.display, "ascending")
    else:
        sorted_by = (catalogue.IMAGES_PER_S.display, "descending")
    reference_rows = [(line, reference_cells(line, columns)) for line in references]
    return Table(columns, _ranked(table_rows, space), notes, sorted_by, reference_rows)


def reference_cells(line: ReferenceLine, columns: Sequence[Column]) -> list[Cell]:
    """The reference's figure in each column that shows one of its metrics; blank elsewhere."""
    cells = [
        Cell(line.label, "", f"{line.dataset}, {line.samples:,} images scored as if generated")
    ]
    for column in columns[1:]:
        value = line.value(column.metric.name) if column.metric else None
        if value is None or column.metric is None:
            cells.append(Cell(""))
            continue
        stat = Stat(value, None, 1)
        text = format_stat(stat, column.metric.fmt, column.metric.fmt == catalogue.PERCENT)
        cells.append(Cell(text, repr(value), f"{line.kind} reference", "reference"))
    return cells


def _ranked(
    table_rows: list[tuple[Implementation, list[Cell]]], space: FeatureSpace
) -> list[tuple[Implementation, list[Cell]]]:
    """Best FID first, then highest throughput; implementations with neither last."""

    def key(pair: tuple[Implementation, list[Cell]]) -> tuple:
        impl = pair[0]
        fid, speed = impl.stat(space.fid).mean, impl.stat(catalogue.IMAGES_PER_S.name).mean
        return (fid is None, fid or 0.0, speed is None, -(speed or 0.0), impl.label)

    return sorted(table_rows, key=key)


def format_stat(stat: Stat, fmt: str, pct: bool = False) -> str:
    if stat.mean is None:
        return "—"
    if pct:  # "86.3 ± 2.2%": mean and spread both in percent
        spread = f" ± {stat.std * 100:.1f}" if stat.std is not None else ""
        return f"{stat.mean * 100:.1f}{spread}%"
    if fmt == catalogue.SIGNIFICANT:  # three significant digits of the mean; the spread to match
        magnitude = math.floor(math.log10(abs(stat.mean))) if stat.mean else 0
        fmt = f"{{:,.{max(0, 2 - magnitude)}f}}"
    text = fmt.format(stat.mean)
    if stat.std is not None:
        text += f" ± {fmt.format(stat.std)}"
    return text


def stat_cell(stat: Stat, fmt: str, pct: bool = False) -> Cell:
    if stat.std is None:
        title = f"n = {stat.n}: no spread (one value)"
    elif stat.spread_kind == "windows":
        title = "one seed: ± std over its timing windows"
    else:
        title = f"mean ± std over n = {stat.n} seeds"
    return Cell(format_stat(stat, fmt, pct), repr(stat.mean), title)


def _label_cell(impl: Implementation) -> Cell:
    seeds = impl.seeds
    title = f"{impl.key}; ok seeds: {', '.join(map(str, seeds)) or 'none'}"
    return Cell(impl.label, impl.label, title)


def _status_cell(impl: Implementation) -> Cell:
    counts = impl.status_counts
    total = sum(counts.values())
    ok = counts.get("ok", 0)
    parts = [f"{count} {status}" for status, count in sorted(counts.items(), key=_status_order)]
    css = "status-ok" if ok == total else ("status-bad" if ok == 0 else "status-mixed")
    return Cell(" · ".join(parts), repr(ok / total), f"{ok} of {total} runs ok", css)


def _status_order(item: tuple[str, int]) -> tuple[bool, str]:
    return (item[0] != "ok", item[0])


def _params_cell(impl: Implementation, null_cell: NullCell) -> Cell:
    """G and D in one cell, in millions."""
    generator = impl.stat(catalogue.PARAMS_GENERATOR.name).mean
    discriminator = impl.stat(catalogue.PARAMS_DISCRIMINATOR.name).mean
    if generator is None or discriminator is None:
        return Cell("—", "", impl.notes.get(catalogue.PARAMS_GENERATOR.name, ""), "null")
    text = f"{generator / 1e6:.2f}M / {discriminator / 1e6:.2f}M"
    return Cell(text, repr(generator + discriminator), f"{generator:,.0f} / {discriminator:,.0f}")


def _parzen_cell(impl: Implementation, null_cell: NullCell) -> Cell:
    """Parzen LL ± std over seeds, or ± its standard error with one seed."""
    ll, se = impl.stat(catalogue.PARZEN_LL.name), impl.stat(catalogue.PARZEN_SE.name)
    if ll.mean is None:
        return null_cell(impl, catalogue.PARZEN_LL.name, catalogue.PARZEN_LL.display)
    if ll.std is not None:
        title = f"mean ± std over n = {ll.n} seeds; mean standard error {se.mean or 0:.2f}"
        return Cell(format_stat(ll, catalogue.PARZEN_LL.fmt), repr(ll.mean), title)
    text = f"{ll.mean:,.1f}" + (f" ± {se.mean:.1f}" if se.mean is not None else "")
    return Cell(text, repr(ll.mean), "one seed: ± standard error over the test split")


def _ssl_cell(impl: Implementation, null_cell: NullCell) -> Cell:
    """Semi-supervised accuracy, with the labels-only baseline in brackets."""
    ssl, baseline = (
        impl.stat(catalogue.SSL_ACCURACY.name),
        impl.stat(catalogue.SSL_BASELINE_ACCURACY.name),
    )
    if ssl.mean is None:
        return null_cell(impl, catalogue.SSL_ACCURACY.name, catalogue.SSL_ACCURACY.display)
    text = format_stat(ssl, catalogue.PERCENT, pct=True)
    text += f" ({baseline.mean:.1%})" if baseline.mean is not None else " (—)"
    title = stat_cell(ssl, "", True).title + "; in brackets: the same D trained on the labels only"
    return Cell(text, repr(ssl.mean), title)


# metrics whose cell shows a companion figure beside them
SPECIAL_CELLS: dict[str, Callable[[Implementation, NullCell], Cell]] = {
    catalogue.PARAMS_GENERATOR.name: _params_cell,
    catalogue.PARZEN_LL.name: _parzen_cell,
    catalogue.SSL_ACCURACY.name: _ssl_cell,
}


def _verdict(verdicts: Mapping[str, IdentityComparison]) -> Callable[[Implementation], Cell]:
    def cell(impl: Implementation) -> Cell:
        entry = verdicts.get(impl.key)
        if entry is None:
            return Cell("—", "", "no verdict for this implementation", "null")
        css = f"verdict verdict-{VERDICT_CLASSES.get(entry.verdict, 'neutral')}"
        return Cell(entry.verdict, entry.verdict, verdict_summary(entry), css)

    return cell


def verdict_summary(entry: IdentityComparison) -> str:
    """The verdict, the checks that moved and the note: "slower; throughput slower -31.0%"."""
    details = [
        f"{c.name} {c.verdict} {'' if c.change_pct is None else f'{c.change_pct:+.1f}%'}".strip()
        for c in entry.moved()
    ]
    parts = [entry.verdict, *details, entry.note]
    return "; ".join(part for part in parts[:4] if part)
