"""A results folder -> one self-contained HTML report that opens from disk with no network.

Everything is in the one file: CSS and the few lines of sorting JavaScript
inline, figures and sample grids as data URIs, the raw rows as a CSV data
URI. The template autoescapes, so any text a row carries (an error message,
a device name) is shown as text, never run. Neither torch nor tensorflow is
imported: a report is made where the rows are, not where they were trained.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from bench.results import ROWS_DIR, Row, read_rows_skipping
from reports import plots
from reports.aggregate import (
    Choice,
    FeatureSpace,
    Implementation,
    Quality,
    Stat,
    choices,
    failure_groups,
    feature_space,
    framework_twins,
    group_implementations,
    implementation_key,
    quality_metric,
)

REPORT_FILE = "report.html"  # written into the results folder unless told otherwise
TEMPLATE = "report.html.j2"
SSL_HEADER = "ssl acc (labels only)"
RAW_TABLE_MAX_ROWS = 500  # more rows than this: the CSV link only, no table
TIMES = "\u00d7"  # the multiplication sign, for "1.44x faster"
SIGNIFICANT = "significant"  # a format: three significant digits, for figures of any scale
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
VERDICT_CLASSES = {
    "faster": "good",
    "better": "good",
    "same": "neutral",
    "slower": "bad",
    "worse": "bad",
    "new": "info",
    "missing": "warn",
    "failed": "bad",
    "changed": "bad",
}
RAW_COLUMNS = (
    "run_id",
    "suite",
    "variant",
    "framework",
    "dataset",
    "seed",
    "batch_size",
    "steps",
    "device",
    "device_name",
    "precision",
    "compile",
    "status",
    "error",
    "diverged_step",
    "images_per_s",
    "images_per_s_relative",
    "step_ms_p50",
    "step_ms_p90",
    "compile_s",
    "peak_mem_mb",
    "params_generator",
    "params_discriminator",
    "flops_per_step",
    "achieved_gflop_per_s",
    "peak_gflop_per_s",
    "mfu",
    "tf32",
    "train_wall_s",
    "parzen_ll",
    "parzen_se",
    "fid_inception",
    "kid_inception",
    "fid_classifier",
    "kid_classifier",
    "cond_accuracy",
    "ssl_accuracy",
    "ssl_baseline_accuracy",
    "probe_accuracy",
    "git_commit",
    "started_at",
    "engine",
    "node",
    "hostname",
    "attempts",
    "job_id",
)


class ReportError(ValueError):
    """A results folder the report cannot be made from (missing, empty)."""


def report(
    results_dir: Path | str,
    output: Path | str | None = None,
    baseline: Path | str | None = None,
    verdicts: Mapping[str, str] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Path:
    """Write the HTML report of a results folder (default: RESULTS_DIR/report.html).

    A row file that cannot be read (truncated, not JSON, another schema_version) is
    skipped: on_skip gets one line naming it, and the report's environment lists it. A
    folder with no readable row at all is a ReportError.

    verdicts: implementation key (reports.aggregate.implementation_key) -> a regression
    verdict, "slower; throughput slower -31.0%": the text before ";" is shown, the rest
    on hover, the first word (bench.compare's verdicts) picks the colour.
    baseline: a baseline file or results folder, judged by bench.compare into verdicts.
    """
    results_dir = Path(results_dir)
    if not results_dir.exists():
        raise ReportError(f"results folder {results_dir} does not exist")
    if not results_dir.is_dir():
        raise ReportError(f"{results_dir} is not a folder; give a results folder (rows/*.json)")
    rows, skipped = read_rows_skipping(results_dir)
    if not rows and skipped:
        more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
        raise ReportError(f"results folder {results_dir} has no readable rows: {skipped[0]}{more}")
    if not rows:
        raise ReportError(
            f"results folder {results_dir} has no rows ({ROWS_DIR}/*.json); "
            "run `python -m bench run` first"
        )
    for line in skipped:
        if on_skip is not None:
            on_skip(line)
    if baseline is not None:
        verdicts = {**baseline_verdicts(Path(baseline), rows), **(verdicts or {})}
    output = Path(output) if output is not None else results_dir / REPORT_FILE
    return write_report(rows, output, verdicts=verdicts, source=str(results_dir), skipped=skipped)


def baseline_verdicts(baseline: Path, rows: Sequence[Row]) -> dict[str, str]:
    """bench.compare's verdict for each implementation: "slower: throughput -31%; ..."."""
    from bench.compare import NOT_COMPARED, SAME, Identity, compare_rows, load_rows

    comparison = compare_rows(load_rows(baseline), list(rows))
    by_identity = {entry.identity: entry for entry in comparison.identities}
    verdicts = {}
    for row in rows:
        entry = by_identity.get(Identity.of(row))
        if entry is None:
            continue
        changed = [c for c in entry.checks if c.verdict not in (SAME, NOT_COMPARED)]
        details = [f"{c.name} {c.verdict} {_signed_pct(c.change_pct)}".strip() for c in changed]
        parts = [entry.verdict, *details, entry.note]
        verdicts[implementation_key(row)] = "; ".join(part for part in parts[:4] if part)
    return verdicts


def _signed_pct(change_pct: float | None) -> str:
    return "" if change_pct is None else f"{change_pct:+.1f}%"


def write_report(
    rows: Sequence[Row],
    output: Path,
    verdicts: Mapping[str, str] | None = None,
    source: str = "",
    skipped: Sequence[str] = (),
) -> Path:
    """Render the rows and write the file atomically, so a browser never opens half of it."""
    text = render(rows, verdicts=verdicts, source=source, skipped=skipped)
    output = Path(output)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    except OSError as error:
        raise ReportError(f"cannot write the report to {output}: {error}") from None
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return output


def render(
    rows: Sequence[Row],
    verdicts: Mapping[str, str] | None = None,
    source: str = "",
    skipped: Sequence[str] = (),
) -> str:
    """The report's HTML text; `skipped` says why each unreadable row file was left out."""
    implementations = group_implementations(rows)
    space = feature_space(rows)
    quality = quality_metric(implementations, space)
    verdicts = dict(verdicts or {})
    leaderboard = leaderboard_table(implementations, space, verdicts)
    figures = {
        "throughput": plots.throughput_bars(implementations),
        "quality_vs_time": plots.quality_vs_time(implementations, quality) if quality else None,
        "quality_vs_throughput": (
            plots.quality_vs_throughput(implementations, quality) if quality else None
        ),
        "losses": plots.loss_curves(implementations),
    }
    environment = template_environment()
    return environment.get_template(TEMPLATE).render(
        title=_title(rows),
        environment=environment_facts(rows, space, source, skipped),
        mix_warning=mix_warning(rows),
        summary=_summary(rows, implementations),
        leaderboard=leaderboard,
        choices=[choice_view(choice) for choice in choices(implementations, quality)],
        twins=twin_views(framework_twins(implementations, quality), quality),
        quality=quality,
        space=space,
        figures=figures,
        grids=sample_grids(implementations),
        failures=failure_groups(implementations),
        raw_rows=raw_table(rows),
        raw_csv_uri=raw_csv_data_uri(rows),
        row_count=len(rows),
        raw_table_max_rows=RAW_TABLE_MAX_ROWS,
    )


def template_environment() -> jinja2.Environment:
    """Autoescape on for every template: row text is data, never markup."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# ----------------------------------------------------------------------------- leaderboard


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


NullCell = Callable[[Implementation, str, str], Cell]  # (impl, metric, header) -> "—" cell


@dataclass(frozen=True)
class Table:
    columns: list[Column]
    rows: list[tuple[Implementation, list[Cell]]]
    footnotes: list[tuple[int, str, str]]  # number, column header, reasons (implementations)
    sorted_by: tuple[str, str] = ("", "")  # (header, "ascending"/"descending") of the first order


def leaderboard_table(
    implementations: Sequence[Implementation],
    space: FeatureSpace,
    verdicts: Mapping[str, str],
) -> Table:
    """One line per implementation; a null figure is "—" with its reason as a footnote."""
    footnotes: dict[str, int] = {}  # column header -> footnote number
    reasons: dict[str, dict[str, list[str]]] = {}  # header -> reason -> implementations

    def stat_column(header: str, metric: str, fmt: str, title: str, pct: bool = False) -> Column:
        def cell(impl: Implementation) -> Cell:
            stat = impl.stat(metric)
            if stat.mean is None:
                return null_cell(impl, metric, header)
            return stat_cell(stat, fmt, pct)

        return Column(header, title, True, cell)

    def null_cell(impl: Implementation, metric: str, header: str) -> Cell:
        reason = impl.notes.get(metric, "no value")
        reasons.setdefault(header, {}).setdefault(reason, []).append(impl.label)
        number = footnotes.setdefault(header, len(footnotes) + 1)
        return Cell("—", "", reason, "null", number)

    columns = [
        Column("implementation", "variant · framework (and what varies)", False, _label_cell),
        Column("status", "runs by status; figures are over the ok runs", False, _status_cell),
        stat_column(
            "images/s",
            "images_per_s",
            "{:,.0f}",
            "training images per second: mean ± std over seeds "
            "(one seed: ± std over its timing windows)",
        ),
        stat_column("step ms p50", "step_ms_p50", "{:,.1f}", "median window's mean step time"),
        stat_column("step ms p90", "step_ms_p90", "{:,.1f}", "90th percentile window"),
        stat_column("compile s", "compile_s", "{:,.1f}", "wall time of the warm-up steps"),
        stat_column(
            "peak mem MB", "peak_mem_mb", "{:,.0f}", "process RSS on CPU, allocator on GPU"
        ),
        stat_column(
            "GFLOP/s",
            "achieved_gflop_per_s",
            "{:,.1f}",
            "model FLOPs per step (counted on the torch twin) x steps per second",
        ),
        stat_column(
            "MFU",
            "mfu",
            "{:.1%}",
            "achieved GFLOP/s over a large matmul's GFLOP/s in the run's precision, "
            "measured on the same device in the same process",
            True,
        ),
        Column("params G / D", "trainable parameters of G and D", True, _params_cell),
        Column(
            "Parzen LL",
            "Parzen-window log-likelihood on the test split, nats (Goodfellow 2014); "
            "± std over seeds, or ± standard error with one seed; higher is better",
            True,
            lambda impl: _parzen_cell(impl, null_cell),
        ),
        stat_column(
            "FID", space.fid, "{:,.2f}", f"Fréchet distance in {space.name}; lower is better"
        ),
        stat_column(
            "KID",
            space.kid,
            SIGNIFICANT,
            f"kernel inception distance in {space.name}; lower is better",
        ),
        stat_column(
            "cond acc", "cond_accuracy", "{:.1%}", "samples read as the class asked for", True
        ),
        Column(
            SSL_HEADER,
            "semi-supervised test accuracy, beside the same D trained on the N labels alone",
            True,
            lambda impl: _ssl_cell(impl, null_cell),
        ),
        stat_column("probe acc", "probe_accuracy", "{:.1%}", "linear probe on D's features", True),
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
    if any(impl.stat(space.fid).mean is not None for impl in implementations):
        sorted_by = ("FID", "ascending")
    else:
        sorted_by = ("images/s", "descending")
    return Table(columns, _ranked(table_rows, space), notes, sorted_by)


def _ranked(
    table_rows: list[tuple[Implementation, list[Cell]]], space: FeatureSpace
) -> list[tuple[Implementation, list[Cell]]]:
    """Best FID first, then highest throughput; implementations with neither last."""

    def key(pair: tuple[Implementation, list[Cell]]) -> tuple:
        impl = pair[0]
        fid, speed = impl.stat(space.fid).mean, impl.stat("images_per_s").mean
        return (fid is None, fid or 0.0, speed is None, -(speed or 0.0), impl.label)

    return sorted(table_rows, key=key)


def format_stat(stat: Stat, fmt: str, pct: bool = False) -> str:
    if stat.mean is None:
        return "—"
    if pct:  # "86.3 ± 2.2%": mean and spread both in percent
        spread = f" ± {stat.std * 100:.1f}" if stat.std is not None else ""
        return f"{stat.mean * 100:.1f}{spread}%"
    if fmt == SIGNIFICANT:  # three significant digits of the mean; the spread to match
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


def _params_cell(impl: Implementation) -> Cell:
    generator = impl.stat("params_generator").mean
    discriminator = impl.stat("params_discriminator").mean
    if generator is None or discriminator is None:
        return Cell("—", "", impl.notes.get("params_generator", ""), "null")
    text = f"{generator / 1e6:.2f}M / {discriminator / 1e6:.2f}M"
    return Cell(text, repr(generator + discriminator), f"{generator:,.0f} / {discriminator:,.0f}")


def _parzen_cell(impl: Implementation, null_cell: NullCell) -> Cell:
    ll, se = impl.stat("parzen_ll"), impl.stat("parzen_se")
    if ll.mean is None:
        return null_cell(impl, "parzen_ll", "Parzen LL")
    if ll.std is not None:
        title = f"mean ± std over n = {ll.n} seeds; mean standard error {se.mean or 0:.2f}"
        return Cell(format_stat(ll, "{:,.1f}"), repr(ll.mean), title)
    text = f"{ll.mean:,.1f}" + (f" ± {se.mean:.1f}" if se.mean is not None else "")
    return Cell(text, repr(ll.mean), "one seed: ± standard error over the test split")


def _ssl_cell(impl: Implementation, null_cell: NullCell) -> Cell:
    ssl, baseline = impl.stat("ssl_accuracy"), impl.stat("ssl_baseline_accuracy")
    if ssl.mean is None:
        return null_cell(impl, "ssl_accuracy", SSL_HEADER)
    text = format_stat(ssl, "{:.1%}", pct=True)
    text += f" ({baseline.mean:.1%})" if baseline.mean is not None else " (—)"
    title = stat_cell(ssl, "", True).title + "; in brackets: the same D trained on the labels only"
    return Cell(text, repr(ssl.mean), title)


def _verdict(verdicts: Mapping[str, str]) -> Callable[[Implementation], Cell]:
    def cell(impl: Implementation) -> Cell:
        verdict = verdicts.get(impl.key)
        if verdict is None:
            return Cell("—", "", "no verdict for this implementation", "null")
        word = verdict.split(";")[0].split(":")[0].strip().lower()
        css = f"verdict verdict-{VERDICT_CLASSES.get(word, 'neutral')}"
        return Cell(verdict.split(";")[0], word, verdict, css)

    return cell


# ----------------------------------------------------------------------------- other sections


@dataclass(frozen=True)
class ChoiceView:
    question: str
    pick: str
    figure: str
    runner_up: str
    verdict: str
    clear: bool
    explanation: str


CHOICE_FORMATS = {"images/s": "{:,.0f}", "s": "{:,.1f}"}


def choice_view(choice: Choice) -> ChoiceView:
    fmt = CHOICE_FORMATS.get(choice.metric_name, "{:,.2f}")
    unit = choice.metric_name if choice.metric_name in CHOICE_FORMATS else ""
    figure = format_stat(choice.pick_stat, fmt)
    if choice.metric_name not in CHOICE_FORMATS:
        figure = f"{choice.metric_name} {figure}"
    return ChoiceView(
        question=choice.question,
        pick=choice.pick.label if choice.pick else "—",
        figure=f"{figure} {unit}".strip(),
        runner_up=(
            f"{choice.runner_up.label}: {format_stat(choice.runner_up_stat, fmt)} {unit}".strip()
            if choice.runner_up
            else "none"
        ),
        verdict=choice.verdict,
        clear=bool(choice.lead_exceeds_noise),
        explanation=choice.explanation,
    )


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
                torch_speed=format_stat(twin.torch.stat("images_per_s"), "{:,.0f}"),
                tf_speed=format_stat(twin.tf.stat("images_per_s"), "{:,.0f}"),
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


@dataclass(frozen=True)
class GridView:
    label: str
    seed: int | None
    data_uri: str | None  # None: no grid, or not a readable PNG
    conditional: bool


def sample_grids(implementations: Sequence[Implementation]) -> list[GridView]:
    """One sample grid per implementation: the PNG its lowest ok seed recorded."""
    return [
        GridView(
            impl.label,
            impl.sample_grid_seed,
            png_data_uri(impl.sample_grid_png),
            any(row.label_use == "conditional" for row in impl.rows),
        )
        for impl in implementations
    ]


def png_data_uri(encoded: str | None) -> str | None:
    """A data URI only for real PNG bytes: a corrupt field must not become a broken image."""
    if not encoded:
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return f"data:image/png;base64,{encoded}" if raw.startswith(PNG_SIGNATURE) else None


def environment_facts(
    rows: Sequence[Row], space: FeatureSpace, source: str, skipped: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """Where and how these numbers were made; a mix (two commits, two devices) is spelled out."""
    versions: dict[str, set[str]] = {}
    for row in rows:
        for package, version in row.versions.items():
            versions.setdefault(package, set()).add(str(version))
    started = sorted(row.started_at[:16].replace("T", " ") for row in rows if row.started_at)
    fid_text = f"FID and KID in {space.name}"
    if space.reason:
        fid_text += f" (not InceptionV3: {space.reason})"
    facts = [
        ("suite", _values(row.suite for row in rows)),
        ("data set", _values(row.dataset for row in rows)),
        ("device", _values(f"{row.device_name or '?'} ({row.device})" for row in rows)),
        ("threads per run", _values(row.threads for row in rows)),
        (
            "libraries",
            ", ".join(
                f"{package} {' / '.join(sorted(found))}" + (" (mixed)" if len(found) > 1 else "")
                for package, found in sorted(versions.items())
            )
            or "not recorded",
        ),
        ("git commit", _values(row.git_commit for row in rows)),
        ("ran on", _values(_where(row) for row in rows)),
        ("runs started (UTC)", f"{started[0]} … {started[-1]}" if started else "not recorded"),
        ("report made", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("quality features", fid_text),
    ]
    if source:
        facts.append(("results folder", source))
    if skipped:
        facts.append((f"unreadable row files skipped ({len(skipped)})", "; ".join(skipped)))
    return facts


def mix_warning(rows: Sequence[Row]) -> str | None:
    """A sentence when the leaderboard's lines come from different libraries or devices."""
    rows = [row for row in rows if row.status == "ok"]  # the leaderboard's figures
    versions: dict[str, set[str]] = {}
    for row in rows:
        for package, version in row.versions.items():
            versions.setdefault(package, set()).add(str(version))
    mixed = [
        f"{package} {' / '.join(sorted(found))}"
        for package, found in sorted(versions.items())
        if len(found) > 1
    ]
    devices = sorted({f"{row.device_name or '?'} ({row.device})" for row in rows})
    parts = []
    if mixed:
        parts.append(f"library versions ({'; '.join(mixed)})")
    if len(devices) > 1:
        parts.append(f"device kinds ({', '.join(devices)})")
    if not parts:
        return None
    return (
        f"These rows mix {' and '.join(parts)}: a difference between two lines may come "
        "from those, not from the implementations (the raw rows say which run is which)."
    )


def _where(row: Row) -> str:
    """'ray node 1a2b3c4d (host)', 'slurm node gpu07', 'local vm': which engine ran it, where."""
    if row.engine is None:
        return "not recorded"
    node = row.node or row.hostname or "?"
    if row.engine == "local":
        return f"local {node}"
    short = node[:8] if len(node) > 16 else node
    host = f" ({row.hostname})" if row.hostname and row.hostname != node else ""
    return f"{row.engine} node {short}{host}"


def _values(values) -> str:
    """Distinct values, each with its count when there is more than one."""
    counts = Counter(str(v) if v is not None else "not recorded" for v in values)
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{value} ({count} runs)" for value, count in counts.most_common())


def _title(rows: Sequence[Row]) -> str:
    suites = sorted({row.suite for row in rows})
    datasets = sorted({row.dataset for row in rows})
    return f"ganbench report: {', '.join(suites)} on {', '.join(datasets)}"


def _summary(rows: Sequence[Row], implementations: Sequence[Implementation]) -> str:
    counts = Counter(row.status for row in rows)
    statuses = ", ".join(f"{count} {status}" for status, count in counts.most_common())
    return f"{len(rows):,} runs of {len(implementations)} implementations: {statuses}"


def raw_table(rows: Sequence[Row]) -> list[Row]:
    """The rows for the collapsed raw table; past RAW_TABLE_MAX_ROWS only the CSV has them."""
    return list(rows) if len(rows) <= RAW_TABLE_MAX_ROWS else []


def raw_csv_data_uri(rows: Sequence[Row]) -> str:
    """Every row's scalar fields as CSV inside a data URI: the download needs no server."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(RAW_COLUMNS)
    for row in rows:
        writer.writerow(["" if (v := getattr(row, name)) is None else v for name in RAW_COLUMNS])
    encoded = base64.b64encode(buffer.getvalue().encode("utf-8")).decode("ascii")
    return f"data:text/csv;charset=utf-8;base64,{encoded}"
