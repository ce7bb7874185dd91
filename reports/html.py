"""A results folder -> one self-contained HTML report that opens from disk with no network.

Everything is in the one file: CSS and the few lines of sorting JavaScript
inline, figures and sample grids as data URIs, the raw rows as a CSV data
URI. The template autoescapes, so any text a row carries (an error message,
a device name) is shown as text, never run. Neither torch nor tensorflow is
imported: a report is made where the rows are, not where they were trained.
Each section of the page is a module of reports/sections/ and a template of
reports/templates/sections/; `render` puts them together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bench.atomic_file import write_text_atomically
from bench.compare.verdicts import Identity, IdentityComparison
from bench.results import ROWS_DIR, Row, read_rows_skipping
from reports import plots
from reports.aggregate import (
    feature_space,
    group_implementations,
    implementation_key,
    quality_metric,
)
from reports.sections.ab import ab_sections
from reports.sections.choose import choice_view, choices
from reports.sections.environment import environment_facts, mix_warning, summary, title
from reports.sections.failures import failure_groups
from reports.sections.frameworks import framework_twins, twin_views
from reports.sections.leaderboard import leaderboard_table
from reports.sections.raw import RAW_TABLE_MAX_ROWS, raw_csv_data_uri, raw_table
from reports.sections.references import reference_lines
from reports.sections.samples import sample_grids
from reports.templating import template_environment

__all__ = ["REPORT_FILE", "ReportError", "environment_facts", "mix_warning", "render", "report"]

REPORT_FILE = "report.html"  # written into the results folder unless told otherwise
TEMPLATE = "report.html.j2"


class ReportError(ValueError):
    """A results folder the report cannot be made from (missing, empty)."""


def report(
    results_dir: Path | str,
    output: Path | str | None = None,
    baseline: Path | str | None = None,
    verdicts: Mapping[str, IdentityComparison] | None = None,
    on_skip: Callable[[str], None] | None = None,
) -> Path:
    """Write the HTML report of a results folder (default: RESULTS_DIR/report.html).

    A row file that cannot be read (truncated, not JSON, another schema_version), or a
    `bench ab` result under ab/ that cannot, is skipped: on_skip gets one line naming it,
    and the report's environment lists it. A
    folder with no readable row at all is a ReportError.

    verdicts: implementation key (reports.aggregate.implementation_key) -> bench.compare's
    verdict of that identity, shown and coloured in the leaderboard.
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
    ab, ab_skipped = ab_sections(results_dir)
    skipped = [*skipped, *ab_skipped]
    for line in skipped:
        if on_skip is not None:
            on_skip(line)
    if baseline is not None:
        verdicts = {**baseline_verdicts(Path(baseline), rows), **(verdicts or {})}
    output = Path(output) if output is not None else results_dir / REPORT_FILE
    return write_report(
        rows,
        output,
        verdicts=verdicts,
        source=str(results_dir),
        skipped=skipped,
        ab=ab,
    )


def baseline_verdicts(baseline: Path, rows: Sequence[Row]) -> dict[str, IdentityComparison]:
    """bench.compare's verdict of each implementation's identity against the baseline."""
    from bench.baseline_file import load_rows
    from bench.compare import compare_rows

    by_identity = compare_rows(load_rows(baseline), list(rows)).by_identity()
    return {
        implementation_key(row): by_identity[Identity.of(row)]
        for row in rows
        if Identity.of(row) in by_identity
    }


def write_report(
    rows: Sequence[Row],
    output: Path,
    verdicts: Mapping[str, IdentityComparison] | None = None,
    source: str = "",
    skipped: Sequence[str] = (),
    ab: Sequence[str] = (),
) -> Path:
    """Render the rows and write the file atomically, so a browser never opens half of it."""
    text = render(rows, verdicts=verdicts, source=source, skipped=skipped, ab=ab)
    try:
        return write_text_atomically(Path(output), text)
    except OSError as error:
        raise ReportError(f"cannot write the report to {output}: {error}") from None


def render(
    rows: Sequence[Row],
    verdicts: Mapping[str, IdentityComparison] | None = None,
    source: str = "",
    skipped: Sequence[str] = (),
    ab: Sequence[str] = (),
) -> str:
    """The report's HTML text; `skipped` says why each unreadable row file was left out;
    `ab`: rendered `bench ab` sections (reports.sections.ab), shown after the twins."""
    implementations = group_implementations(rows)
    space = feature_space(rows)
    quality = quality_metric(implementations, space)
    references = reference_lines(rows)
    environment = template_environment()
    return environment.get_template(TEMPLATE).render(
        title=title(rows),
        environment=environment_facts(rows, space, source, skipped),
        mix_warning=mix_warning(rows),
        summary=summary(rows, implementations),
        leaderboard=leaderboard_table(implementations, space, dict(verdicts or {}), references),
        choices=[choice_view(choice) for choice in choices(implementations, quality)],
        twins=twin_views(framework_twins(implementations, quality), quality),
        quality=quality,
        space=space,
        figures=plots.figures(implementations, quality, references),
        grids=sample_grids(implementations),
        failures=failure_groups(implementations),
        raw_rows=raw_table(rows),
        raw_csv_uri=raw_csv_data_uri(rows),
        row_count=len(rows),
        raw_table_max_rows=RAW_TABLE_MAX_ROWS,
        ab_sections=list(ab),
    )
