"""A results folder of many crafted rows, for scale tests and for trying the report by hand.

    python -m tests.make_rows OUT [--rows 10000] [--rng-seed 0]

Rows come from tests/report_rows.py (plausible numbers, three runs that did not finish
ok), spread over the ten implementations, seeds and two device kinds: ROWS // 20 seeds of
each implementation on a CPU and as many on a GPU. Only the first seed of each keeps its
sample grid: the report shows one grid per implementation, and 10,000 grids would make
this a test of disk space rather than of the report.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from bench.results import Row
from tests.report_rows import crafted_rows, write_rows_fast

GPU_NAME = "NVIDIA H100 80GB HBM3"
GPU_SPEEDUP = 12.0  # crafted GPU rows: this much faster than the CPU profile, same model


def scale_rows(count: int = 10_000, rng_seed: int = 0) -> list[Row]:
    """`count` rows (a multiple of 20): half on "cpu", half on "cuda", seeds 0..count/20-1."""
    if count < 20 or count % 20:
        raise ValueError(f"rows = {count}; must be a positive multiple of 20")
    rows = []
    for row in crafted_rows(seeds=range(count // 20), rng_seed=rng_seed):
        if row.seed:
            row.sample_grid_png = None
        rows += [row, _on_gpu(row)]
    return rows


def _on_gpu(row: Row) -> Row:
    """The same run on a GPU: faster, named as a GPU, its speed figures scaled alike."""
    return dataclasses.replace(
        row,
        run_id=row.run_id.replace("-cpu-", "-cuda-"),
        device="cuda",
        device_name=GPU_NAME,
        images_per_s=_faster(row.images_per_s),
        images_per_s_windows=[value * GPU_SPEEDUP for value in row.images_per_s_windows],
        reference_gflop_per_s=_faster(row.reference_gflop_per_s),
        peak_mem_kind="device_allocator",
        sample_grid_png=None,
    )


def _faster(value: float | None) -> float | None:
    return None if value is None else value * GPU_SPEEDUP


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.make_rows", description=__doc__)
    parser.add_argument("out", type=Path, help="the results folder to write (rows/*.json)")
    parser.add_argument("--rows", type=int, default=10_000, help="a multiple of 20")
    parser.add_argument("--rng-seed", type=int, default=0, help="noise of the crafted figures")
    args = parser.parse_args(argv)
    rows = scale_rows(args.rows, args.rng_seed)
    write_rows_fast(args.out, rows)
    print(f"{len(rows)} rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
