"""Benchmarks of the report's verdicts: A/A false calls (aa.py) and replication (replication.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path


def emit_json(result: dict, out: Path | None) -> int:
    """A benchmark's result as sorted, indented JSON into `out` (stdout without one); exit 0."""
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if out:
        out.write_text(text)
    else:
        sys.stdout.write(text)
    return 0
