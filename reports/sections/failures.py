"""Runs that did not finish ok: grouped by implementation, status and error, never dropped."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bench.results import Row
from reports.aggregate import Implementation


@dataclass(frozen=True)
class FailureGroup:
    """Runs of one implementation that ended the same way: listed, never dropped."""

    label: str
    status: str
    error: str
    seeds: list[int]
    run_ids: list[str]
    traceback: str | None
    diverged_steps: list[int]


def failure_groups(implementations: Sequence[Implementation]) -> list[FailureGroup]:
    """Every non-ok run, grouped by implementation, status and error, so 1,000 alike stay short."""
    groups = []
    for impl in implementations:
        alike: dict[tuple[str, str], list[Row]] = defaultdict(list)
        for row in impl.rows:
            if row.status != "ok":
                alike[(row.status, row.error or "(no error recorded)")].append(row)
        for (status, error), rows in alike.items():
            groups.append(
                FailureGroup(
                    label=impl.label,
                    status=status,
                    error=error,
                    seeds=[row.seed for row in rows],
                    run_ids=[row.run_id for row in rows],
                    traceback=next((row.traceback for row in rows if row.traceback), None),
                    diverged_steps=[r.diverged_step for r in rows if r.diverged_step is not None],
                )
            )
    return groups
