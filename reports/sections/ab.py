"""The `bench ab` section of a report: each implementation's interval against the threshold.

Rendered from the JSON result `python -m bench ab` writes (results/ab/ab-*.json), so the
report reads what was measured and computes nothing new. The section is its own template
(templates/sections/ab.html.j2); `write_ab_report` wraps it in a page of its own, and the
report of a results folder shows one such section per AB_DIR/*.json in it
(`bench ab --out RESULTS/ab`).
"""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import markupsafe
from matplotlib import rc_context
from matplotlib.figure import Figure

from bench.atomic_file import write_text_atomically
from reports.templating import template_environment

SECTION_TEMPLATE = "sections/ab.html.j2"
AB_DIR = "ab"  # in a results folder: the `bench ab` results its report shows
PAGE_TEMPLATE = "ab_report.html.j2"
VERDICT_COLOURS = {"slower": "#cf222e", "faster": "#1a7f37", "same": "#0969da"}
OTHER_COLOUR = "#9a6700"  # inconclusive, changed, failed


@dataclass(frozen=True)
class AbLine:
    """One implementation as the section shows it."""

    name: str
    verdict: str
    change: str  # "-9.8%", or "" when nothing was measured
    interval: str  # "[-12.1%, -7.4%] (98.75%)"
    mde: str
    windows: str
    note: str
    css: str  # verdict-bad / verdict-good / verdict-warn / ""


def ab_lines(document: dict[str, Any]) -> list[AbLine]:
    lines = []
    for entry in document["implementations"]:
        measurement = entry.get("measurement")
        looks = measurement["looks"] if measurement else []
        name = f"{entry['variant']}/{entry['framework']}"
        verdict = entry["verdict"]
        css = {"slower": "verdict-bad", "changed": "verdict-bad", "failed": "verdict-bad"}.get(
            verdict, "verdict-good" if verdict in ("faster", "same") else "verdict-warn"
        )
        if not looks:
            lines.append(AbLine(name, verdict, "", "", "", "", entry.get("note", ""), css))
            continue
        last = looks[-1]
        changed = [
            c["name"]
            for c in entry["exact"]
            if None not in (c["base"], c["head"]) and c["base"] != c["head"]
        ]
        lines.append(
            AbLine(
                name,
                verdict,
                f"{last['change_pct']:+.1f}%",
                f"[{last['low_pct']:+.1f}%, {last['high_pct']:+.1f}%] "
                f"({100 * last['confidence']:.2f}%)",
                f"{measurement['mde_pct']:.1f}%",
                f"{len(measurement['a_seconds']) + len(measurement['b_seconds'])}",
                ("changed: " + ", ".join(changed)) if changed else entry.get("note", ""),
                css,
            )
        )
    return lines


def interval_figure(document: dict[str, Any]) -> str | None:
    """SVG data URI: one horizontal interval per implementation, 0 and +/- threshold marked."""
    measured = [
        e for e in document["implementations"] if e.get("measurement") and e["measurement"]["looks"]
    ]
    if not measured:
        return None
    threshold = document["plan"]["measure"]["min_effect_pct"]
    with rc_context(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "svg.hashsalt": "ganbench",
        }
    ):
        figure = Figure(figsize=(7.5, 0.9 + 0.32 * len(measured)))
        axes = figure.subplots()
        for row, entry in enumerate(measured):
            last = entry["measurement"]["looks"][-1]
            colour = VERDICT_COLOURS.get(entry["verdict"], OTHER_COLOUR)
            axes.errorbar(
                last["change_pct"],
                row,
                xerr=[
                    [last["change_pct"] - last["low_pct"]],
                    [last["high_pct"] - last["change_pct"]],
                ],
                fmt="o",
                color=colour,
                capsize=3,
            )
        axes.axvline(0.0, color="#636c76", linewidth=1)
        for line in (-threshold, 100.0 * (1.0 / (1.0 - threshold / 100.0) - 1.0)):
            axes.axvline(line, color="#636c76", linestyle="--", linewidth=1)
        axes.set_yticks(range(len(measured)))
        axes.set_yticklabels(
            [f"{e['variant']}/{e['framework']} ({e['verdict']})" for e in measured]
        )
        axes.set_xlabel(
            f"change of images/s, HEAD vs BASE (%); dashed: +/- {threshold:g}% threshold"
        )
        buffer = io.BytesIO()
        figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_ab_section(document: dict[str, Any]) -> str:
    """The section's HTML (a <section> element), autoescaped."""
    return (
        template_environment()
        .get_template(SECTION_TEMPLATE)
        .render(
            base=document["base"],
            head=document["head"],
            plan=document["plan"],
            lines=ab_lines(document),
            figure=interval_figure(document),
            regressed=document["regressed"],
        )
    )


def ab_sections(results_dir: Path) -> tuple[list[markupsafe.Markup], list[str]]:
    """One rendered section per `bench ab` result in RESULTS_DIR/ab/, by file name, and one
    line per file that could not be read or rendered (skipped like an unreadable row file)."""
    sections, skipped = [], []
    for path in sorted((Path(results_dir) / AB_DIR).glob("[!.]*.json")):
        try:
            sections.append(markupsafe.Markup(render_ab_section(json.loads(path.read_text()))))
        except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            skipped.append(f"{path}: not a readable `bench ab` result ({reason})")
    return sections, skipped


def write_ab_report(result_file: Path, output: Path | None = None) -> Path:
    """A page of its own for one `bench ab` result (default: the JSON's name, .html)."""
    document = json.loads(Path(result_file).read_text())
    output = output or Path(result_file).with_suffix(".html")
    title = f"bench ab: {document['head']['revision']} vs {document['base']['revision']}"
    section = markupsafe.Markup(render_ab_section(document))  # rendered with autoescape
    page = template_environment().get_template(PAGE_TEMPLATE).render(section=section, title=title)
    return write_text_atomically(output, page)  # as every report: one rename, the umask
