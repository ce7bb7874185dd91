"""Baseline files: a results folder's rows frozen into one JSON file, and read back.

`compare` and `report --baseline` take either a results folder (rows/*.json) or a
baseline file; both are read here, strictly: an unreadable file, another
schema_version or an unknown key is a ResultsError naming it, because a
regression check never runs on part of the rows.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from pathlib import Path

from bench.atomic_file import write_text_atomically
from bench.results import SCHEMA_VERSION, ResultsError, Row, read_rows

BASELINE_KEYS: tuple[str, ...] = ("schema_version", "rows", "source", "saved_at")
SAVABLE_STATUSES: tuple[str, ...] = ("ok", "unsupported")


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
    not_ok = [row for row in rows if row.status not in SAVABLE_STATUSES]
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
    write_text_atomically(
        Path(baseline_file), json.dumps(document, indent=1, allow_nan=False) + "\n"
    )
    return rows


def _bad(path: Path, index: int) -> Row:
    raise ResultsError(f"{path}: rows[{index}] is not a JSON object")
