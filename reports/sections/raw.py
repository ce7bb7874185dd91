"""Raw rows: a short table while it stays readable, and every row as a CSV data URI."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence

from bench import catalogue
from bench.catalogue import Metric
from bench.results import RUN_IDENTITY_FIELDS, Row

RAW_TABLE_MAX_ROWS = 500  # more rows than this: the CSV link only, no table
# The run's identity in bench.results' order up to its compile mode, the device's name
# beside its kind, then how the run ended.
_IDENTITY_COLUMNS = RUN_IDENTITY_FIELDS[: RUN_IDENTITY_FIELDS.index("compile") + 1]
RUN_COLUMNS: tuple[str, ...] = (
    *(c for f in _IDENTITY_COLUMNS for c in ((f, "device_name") if f == "device" else (f,))),
    "status",
    "error",
    "diverged_step",
)
PROVENANCE_COLUMNS: tuple[str, ...] = (
    "git_commit",
    "started_at",
    "engine",
    "node",
    "hostname",
    "attempts",
    "job_id",
)
SPEED_COLUMNS: tuple[Metric, ...] = (
    catalogue.IMAGES_PER_S,
    catalogue.IMAGES_PER_S_RELATIVE,
    catalogue.STEP_MS_P50,
    catalogue.STEP_MS_P90,
    catalogue.COMPILE_S,
    catalogue.PEAK_MEM_MB,
    catalogue.PARAMS_GENERATOR,
    catalogue.PARAMS_DISCRIMINATOR,
    catalogue.FLOPS_PER_STEP,
    catalogue.ACHIEVED_GFLOP_PER_S,
    catalogue.PEAK_GFLOP_PER_S,
    catalogue.MFU,
)
QUALITY_COLUMNS: tuple[Metric, ...] = (
    catalogue.TRAIN_WALL_S,
    catalogue.PARZEN_LL,
    catalogue.PARZEN_SE,
    catalogue.FID_INCEPTION,
    catalogue.KID_INCEPTION,
    catalogue.FID_CLASSIFIER,
    catalogue.KID_CLASSIFIER,
    catalogue.COND_ACCURACY,
    catalogue.SSL_ACCURACY,
    catalogue.SSL_BASELINE_ACCURACY,
    catalogue.PROBE_ACCURACY,
)
_LISTED = (*SPEED_COLUMNS, *QUALITY_COLUMNS)
# The CSV's columns: a file format, so the order is fixed here; a catalogue metric not
# placed above comes last.
RAW_COLUMNS: tuple[str, ...] = (
    *RUN_COLUMNS,
    *(metric.name for metric in SPEED_COLUMNS),
    "tf32",
    *(metric.name for metric in QUALITY_COLUMNS),
    *PROVENANCE_COLUMNS,
    *(metric.name for metric in catalogue.CATALOGUE if metric not in _LISTED),
)


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
