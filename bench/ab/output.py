"""`bench ab`'s result as text (one line per implementation, a summary) and as JSON.

The JSON file holds everything measured, window by window, so a verdict can be checked
or recomputed later; it is versioned like the result rows.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

from bench.ab.session import AbResult, ImplementationResult
from bench.ab.stats import FIRST_LOOK_SESSIONS
from bench.ab.verdict import Verdict
from bench.atomic_file import write_text_atomically
from bench.catalogue import IMAGES_PER_S

AB_SCHEMA_VERSION = 1
AB_FILE_PREFIX = "ab-"


def format_line(entry: ImplementationResult, min_effect_pct: float, width: int = 18) -> str:
    """verdict, name, change [interval], MDE, windows; or the reason nothing was measured."""
    measurement = entry.measurement
    interval = measurement.interval if measurement is not None else None
    verdict = entry.verdict.value
    if entry.verdict is Verdict.INCONCLUSIVE and measurement is not None:
        mde = measurement.mde_pct(min_effect_pct)
        verdict = f"inconclusive (MDE {mde:.1f}%)" if mde is not None else verdict
    head = f"{verdict:<12} {entry.name:<{width}}"
    if measurement is None:
        return f"{head}  {entry.note or 'not measured'}"
    if interval is None:
        text = (
            f"{head}  {measurement.sessions} sessions of {measurement.window_steps}-step "
            f"windows in {measurement.timing_s:.0f} s; the first look needs "
            f"{FIRST_LOOK_SESSIONS}: raise --budget-s"
        )
        return text + (f"; {entry.quality.describe()}" if entry.quality is not None else "")
    mde = measurement.mde_pct(min_effect_pct)
    text = (
        f"{head}  {interval.change_pct:+.1f}% [{interval.low_pct:+.1f}%, {interval.high_pct:+.1f}%]"
        f" ({100 * interval.confidence:.2f}% interval), MDE {mde:.1f}%, "
        f"{measurement.windows} windows of {measurement.window_steps} steps in "
        f"{measurement.sessions} sessions, "
        f"{measurement.images_per_s('A'):,.0f} -> {measurement.images_per_s('B'):,.0f} images/s"
    )
    changed = [check for check in entry.exact if check.changed]
    for check in changed:
        text += f"; {check.name} {check.base:,} -> {check.head:,}"
    if entry.quality is not None:
        text += f"; {entry.quality.describe()}"
    return text


def format_result(result: AbResult) -> str:
    """Header, one line per implementation, summary line."""
    plan = result.plan
    min_effect = plan.measure.min_effect_pct
    lines = [header(result), ""]
    width = max((len(entry.name) for entry in result.implementations), default=10)
    lines += [format_line(entry, min_effect, width) for entry in result.implementations]
    lines += ["", summary_line(result)]
    return "\n".join(lines)


def header(result: AbResult) -> str:
    plan = result.plan
    head = result.head
    dirty = " + uncommitted changes" if head.dirty else ""
    return (
        f"ab: A = {result.base.revision} ({result.base.commit[:10]}), "
        f"B = {head.revision} ({head.commit[:10]}{dirty}); change of images/s B vs A, "
        f"slower/faster beyond {plan.measure.min_effect_pct:g}%, "
        f"{plan.threads} thread(s), batch {plan.batch_size}, budget {plan.measure.budget_s:g} s"
    )


def summary_line(result: AbResult) -> str:
    counts: dict[str, int] = {}
    for entry in result.implementations:
        counts[entry.verdict.value] = counts.get(entry.verdict.value, 0) + 1
    ordered = [f"{counts[v.value]} {v.value}" for v in Verdict if v.value in counts]
    outcome = "REGRESSION" if result.regressed else "no regression"
    return f"{outcome}: {', '.join(ordered) or 'nothing compared'} ({result.wall_s:.0f} s)"


def result_document(result: AbResult) -> dict[str, Any]:
    """The whole result as plain JSON values."""
    document = dataclasses.asdict(result)
    document["plan"]["cache_dir"] = str(result.plan.cache_dir) if result.plan.cache_dir else None
    for side in ("base", "head"):
        document[side]["path"] = str(document[side]["path"])
    for entry, values in zip(result.implementations, document["implementations"], strict=True):
        values["verdict"] = entry.verdict.value
        measurement = entry.measurement
        if measurement is not None:
            values["measurement"]["throughput"] = (
                measurement.throughput.value if measurement.throughput else None
            )
            values["measurement"]["mde_pct"] = measurement.mde_pct(
                result.plan.measure.min_effect_pct
            )
            values["measurement"][IMAGES_PER_S.name] = {
                "A": measurement.images_per_s("A"),
                "B": measurement.images_per_s("B"),
            }
    return {
        "schema_version": AB_SCHEMA_VERSION,
        "written_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "regressed": result.regressed,
        **document,
    }


def write_result(result: AbResult, folder: Path) -> Path:
    """results/ab/ab-<UTC time>.json, written atomically with the user's umask."""
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{AB_FILE_PREFIX}{stamp}.json"
    text = json.dumps(result_document(result), indent=1, allow_nan=False) + "\n"
    return write_text_atomically(path, text)
