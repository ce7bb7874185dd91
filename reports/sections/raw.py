"""Raw rows: a short table while it stays readable, and every row as a CSV data URI."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence

from bench.catalogue import (
    ACHIEVED_GFLOP_PER_S,
    CATALOGUE,
    COMPILE_S,
    COND_ACCURACY,
    FID_CLASSIFIER,
    FID_INCEPTION,
    FLOPS_PER_STEP,
    IMAGES_PER_S,
    IMAGES_PER_S_RELATIVE,
    KID_CLASSIFIER,
    KID_INCEPTION,
    MFU,
    PARAMS_DISCRIMINATOR,
    PARAMS_GENERATOR,
    PARZEN_LL,
    PARZEN_SE,
    PEAK_GFLOP_PER_S,
    PEAK_MEM_MB,
    PROBE_ACCURACY,
    SSL_ACCURACY,
    SSL_BASELINE_ACCURACY,
    STEP_MS_P50,
    STEP_MS_P90,
    TRAIN_WALL_S,
    Metric,
)
from bench.results import Row

RAW_TABLE_MAX_ROWS = 500  # more rows than this: the CSV link only, no table
RUN_COLUMNS: tuple[str, ...] = (
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
    IMAGES_PER_S,
    IMAGES_PER_S_RELATIVE,
    STEP_MS_P50,
    STEP_MS_P90,
    COMPILE_S,
    PEAK_MEM_MB,
    PARAMS_GENERATOR,
    PARAMS_DISCRIMINATOR,
    FLOPS_PER_STEP,
    ACHIEVED_GFLOP_PER_S,
    PEAK_GFLOP_PER_S,
    MFU,
)
QUALITY_COLUMNS: tuple[Metric, ...] = (
    TRAIN_WALL_S,
    PARZEN_LL,
    PARZEN_SE,
    FID_INCEPTION,
    KID_INCEPTION,
    FID_CLASSIFIER,
    KID_CLASSIFIER,
    COND_ACCURACY,
    SSL_ACCURACY,
    SSL_BASELINE_ACCURACY,
    PROBE_ACCURACY,
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
    *(metric.name for metric in CATALOGUE if metric not in _LISTED),
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
