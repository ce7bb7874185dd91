"""The header: where and how these numbers were made, and a warning when the rows mix."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from bench.results import Row
from reports.aggregate import FeatureSpace, Implementation


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
        facts.append((f"unreadable files skipped ({len(skipped)})", "; ".join(skipped)))
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


def title(rows: Sequence[Row]) -> str:
    suites = sorted({row.suite for row in rows})
    datasets = sorted({row.dataset for row in rows})
    return f"ganbench report: {', '.join(suites)} on {', '.join(datasets)}"


def summary(rows: Sequence[Row], implementations: Sequence[Implementation]) -> str:
    counts = Counter(row.status for row in rows)
    statuses = ", ".join(f"{count} {status}" for status, count in counts.most_common())
    return f"{len(rows):,} runs of {len(implementations)} implementations: {statuses}"
