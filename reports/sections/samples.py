"""Samples: one grid per implementation, shown only when its bytes are a real PNG."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from reports.aggregate import Implementation

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class GridView:
    label: str
    seed: int | None
    data_uri: str | None  # None: no grid, or not a readable PNG
    conditional: bool  # row r is class r: samples drawn per class, as cond_accuracy reads them


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
