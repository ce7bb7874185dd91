"""Which measuring process `bench ab` uses: resident vs fresh processes, 1 vs 2 threads.

    PYTHONPATH=. python tests/benchmarks/ab_design.py [--minutes-per-design M]

Both sides are the same checkout (this tree), so every block log-ratio is pure noise
(an A/A test). For each design it records the block log-ratios, their robust spread
(IQR / 1.349), the wall time per block, and, for resident processes, the offset of each
process pair (a persistent difference between two processes of the same code, which
interleaving cannot remove). The figure of merit is the wall time a design needs for a
95% interval of +/- 3%: (1.96 x spread / log(1.03))^2 blocks x seconds per block.
Writes reports/ab_design.json.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.ab.measure import BLOCK_ORDER
from bench.ab.session import write_data
from bench.ab.side import BuildRequest, SideProcess
from bench.ab.stats import WINDOWS_PER_SIDE, session_log_ratios
from bench.datasets import load_dataset

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "reports" / "ab_design.json"
WARMUP_STEPS = 20
TARGET_HALF_WIDTH = math.log(1.03)


def started(label: str, threads: int, scratch: Path, request: BuildRequest) -> SideProcess:
    side = SideProcess(label, REPO, threads, scratch / f"{label}-{time.monotonic_ns()}.log")
    side.build(request)
    side.window_s(WARMUP_STEPS)
    return side


def resident(threads: int, minutes: float, pairs: int, steps: int, request, scratch) -> dict:
    """`pairs` process pairs, each timing ABBA blocks for minutes / pairs."""
    per_pair: list[list[float]] = []
    timing_s = 0.0
    for _ in range(pairs):
        times: dict[str, list[float]] = {"A": [], "B": []}
        with (
            started("A", threads, scratch, request) as a,
            started("B", threads, scratch, request) as b,
        ):
            sides = {"A": a, "B": b}
            pair_start = time.perf_counter()
            while time.perf_counter() - pair_start < 60 * minutes / pairs:
                for label in BLOCK_ORDER:
                    times[label].append(sides[label].window_s(steps))
            timing_s += time.perf_counter() - pair_start
        per_pair.append(session_log_ratios(times["A"], times["B"], WINDOWS_PER_SIDE).tolist())
    # start-up is paid once per implementation, not per block: only timing counts here
    return summary(f"resident, {threads} thread(s)", per_pair, timing_s, steps)


def fresh(threads: int, minutes: float, steps: int, request, scratch) -> dict:
    """A new process (start, build, warm-up) for every window, in ABBA order."""
    times: dict[str, list[float]] = {"A": [], "B": []}
    started_at = time.perf_counter()
    while time.perf_counter() - started_at < 60 * minutes:
        for label in BLOCK_ORDER:
            with started(label, threads, scratch, request) as side:
                times[label].append(side.window_s(steps))
    wall = time.perf_counter() - started_at
    ratios = session_log_ratios(times["A"], times["B"], WINDOWS_PER_SIDE).tolist()
    return summary(f"fresh processes, {threads} thread(s)", [ratios], wall, steps)


def summary(design: str, per_pair: list[list[float]], wall_s: float, steps: int) -> dict:
    pooled = np.concatenate([np.asarray(p) for p in per_pair])
    q25, q75 = np.percentile(pooled, [25, 75])
    spread = float((q75 - q25) / 1.349)
    blocks = len(pooled)
    block_s = wall_s / blocks
    needed_blocks = (1.96 * spread / TARGET_HALF_WIDTH) ** 2
    return {
        "design": design,
        "window_steps": steps,
        "blocks": blocks,
        "block_s": block_s,
        "spread_log_ratio": spread,
        "median_log_ratio": float(np.median(pooled)),
        "pair_median_pct": [100 * math.expm1(float(np.median(p))) for p in per_pair],
        "seconds_for_3pct_interval": needed_blocks * block_s,
        "log_ratios": per_pair,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes-per-design", type=float, default=3.0)
    parser.add_argument("--variant", default="vanilla")
    parser.add_argument("--window-steps", type=int, default=10)
    args = parser.parse_args()
    dataset = load_dataset("digits")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        data = write_data(dataset, scratch / "data.npz")
        request = BuildRequest("torch", args.variant, "paper", 64, 0, str(data))
        minutes, steps = args.minutes_per_design, args.window_steps
        for threads in (1, 2):
            results.append(resident(threads, minutes, 3, steps, request, scratch))
            print(json.dumps({k: v for k, v in results[-1].items() if k != "log_ratios"}))
        results.append(fresh(1, minutes, steps, request, scratch))
        print(json.dumps({k: v for k, v in results[-1].items() if k != "log_ratios"}))
    load = Path("/proc/loadavg").read_text().split()[:3]
    OUT.write_text(json.dumps({"load_average_at_end": load, "designs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
