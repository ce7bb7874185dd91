"""The power curve of `bench ab`: planted slowdowns, how often they are called `slower`.

    PYTHONPATH=. python tests/benchmarks/ab_power.py [--budget-s S] [--trials-null N] ...

A scratch git repository holds this tree's files as commit `base` and, per planted
slowdown f, a branch `plant-<f>` whose torch vanilla `train_step` then spins on the CPU
for f of the step's own time (tests/ab_scratch.py), so the planted fraction holds
whatever the machine's load. Each trial is one `python -m bench ab base plant-<f>
--only vanilla,torch` in a fresh process, as a user runs it. Half the null trials (f = 0)
run beside a CPU-bound competing process. `--streams 2` runs two trials at once (each
is a pair of resident processes timed in turn, so two pairs share the CPUs; a competing
process of one trial competes with the other too). The trials are interleaved over conditions, so
the machine's background load (other jobs come and go) falls on all of them alike, and
the JSON (reports/ab_power.json) is rewritten after every trial; `--append` adds the
trials to those already there (taken the same way: budget, streams), each sitting's
start kept in "sittings". `--plot` draws reports/ab_power.png from it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.provenance import utc_now
from tests.ab_scratch import commit, copy_of_this_tree, git, plant_slowdown

REPO = Path(__file__).resolve().parents[2]
OUT_JSON = REPO / "reports" / "ab_power.json"
OUT_PNG = REPO / "reports" / "ab_power.png"
FRACTIONS = (0.0, 0.03, 0.05, 0.10, 0.20)


def scratch_repository(folder: Path) -> Path:
    """base = this tree; plant-<f> = base + a slowdown of f (tests/ab_scratch.py)."""
    repo = copy_of_this_tree(folder / "repo")
    for fraction in FRACTIONS:
        git(repo, "checkout", "--quiet", "-b", branch(fraction), "base")
        if fraction:
            plant_slowdown(repo, fraction)
        commit(repo, f"plant {fraction:.0%}")
    git(repo, "checkout", "--quiet", "base")
    return repo


def branch(fraction: float) -> str:
    return f"plant-{round(100 * fraction)}"


def trial(repo: Path, fraction: float, load: bool, budget_s: float, out: Path) -> dict:
    """One `bench ab base plant-<f>`, optionally beside a CPU-bound process."""
    hog = None
    if load:
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    env = {**os.environ, "PYTHONPATH": str(repo)}
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench",
                "ab",
                "base",
                branch(fraction),
                "--only",
                "vanilla,torch",
                "--budget-s",
                str(budget_s),
                "--full-budget",
                "--out",
                str(out),
            ],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    wall_s = time.perf_counter() - started
    files = sorted(out.glob("ab-*.json"))
    if done.returncode not in (0, 1) or not files:
        return {"fraction": fraction, "load": load, "error": done.stderr[-2000:], "wall_s": wall_s}
    document = json.loads(files[-1].read_text())
    files[-1].unlink()
    entry = document["implementations"][0]
    measurement = entry["measurement"]
    interval = measurement["looks"][-1] if measurement["looks"] else None
    # Every session was timed (--full-budget); the verdict is the one at the look where an
    # early-stopping run would have stopped, and so is the time it would have taken.
    stop_session = interval["sessions"] if interval else 0
    saved_s = measurement["timing_s"] - (
        measurement["session_end_s"][stop_session - 1] if stop_session else 0.0
    )
    return {
        "fraction": fraction,
        "load": load,
        "verdict": entry["verdict"],
        "exit_status": done.returncode,
        "change_pct": interval and interval["change_pct"],
        "low_pct": interval and interval["low_pct"],
        "high_pct": interval and interval["high_pct"],
        "mde_pct": measurement["mde_pct"],
        "windows": len(measurement["a_seconds"]) + len(measurement["b_seconds"]),
        "sessions": len(measurement["session_end_s"]),
        "looks": len(measurement["looks"]),
        "stopped": measurement["stopped"],
        "wall_s": wall_s,
        "early_stop_wall_s": wall_s - saved_s,
        "a_seconds": measurement["a_seconds"],
        "b_seconds": measurement["b_seconds"],
        "schedule": measurement["schedule"],
        "window_steps": measurement["window_steps"],
        "loadavg": Path("/proc/loadavg").read_text().split()[0],
    }


def schedule(null_trials: int, ten_trials: int, other_trials: int) -> list[tuple[float, bool]]:
    """Conditions interleaved round-robin, so drift in the machine's load hits all alike."""
    queues = [
        [(0.0, False)] * (null_trials // 2),
        [(0.0, True)] * (null_trials - null_trials // 2),
        [(0.10, False)] * ten_trials,
        [(0.03, False)] * other_trials,
        [(0.05, False)] * other_trials,
        [(0.20, False)] * other_trials,
    ]
    order = []
    for round_ in itertools.zip_longest(*queues):
        order.extend(item for item in round_ if item is not None)
    return order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-s", type=float, default=120.0)  # bench ab's default
    parser.add_argument("--trials-null", type=int, default=20)
    parser.add_argument("--trials-10", type=int, default=20)
    parser.add_argument("--trials-other", type=int, default=5)
    parser.add_argument(
        "--streams", type=int, default=2, help="trials at once (each is one `bench ab`)"
    )
    parser.add_argument("--plot", action="store_true", help="only draw the plot from the JSON")
    parser.add_argument(
        "--append",
        action="store_true",
        help="add the new trials to those already in the JSON (same budget and streams only)",
    )
    args = parser.parse_args()
    if args.plot:
        document = json.loads(OUT_JSON.read_text())
        rejudge(document)
        document["compare_rules"] = compare_rules(document)
        OUT_JSON.write_text(json.dumps(document, indent=1) + "\n")
        plot(document)
        print(table(document))
        return
    document = {
        "what": "bench ab base plant-<f> --only vanilla,torch; the planted step spins for "
        "f of its own time (tests/ab_scratch.py)",
        "budget_s": args.budget_s,
        "machine": f"{os.cpu_count()} CPUs",
        "streams": args.streams,
        "sittings": [],
        "trials": [],
    }
    if args.append:
        document = earlier_trials(document)
    first = 1 + max((t["order"] for t in document["trials"]), default=-1)
    document["sittings"].append(
        {
            "started_utc": utc_now(),
            "first_order": first,
            "loadavg_at_start": Path("/proc/loadavg").read_text().split()[0],
        }
    )
    lock = threading.Lock()
    with tempfile.TemporaryDirectory(prefix="ab-power-") as folder:
        repo = scratch_repository(Path(folder))

        def one(index: int, condition: tuple[float, bool]) -> None:
            out = Path(folder) / f"out{index}"
            started_utc = utc_now()
            result = trial(repo, *condition, args.budget_s, out)
            with lock:
                document["trials"].append(
                    {"order": first + index, "started_utc": started_utc, **result}
                )
                OUT_JSON.write_text(json.dumps(document, indent=1) + "\n")
                print(
                    json.dumps({k: v for k, v in result.items() if "seconds" not in k}), flush=True
                )

        order = schedule(args.trials_null, args.trials_10, args.trials_other)
        with ThreadPoolExecutor(max_workers=args.streams) as pool:
            for future in [pool.submit(one, i, c) for i, c in enumerate(order)]:
                future.result()
    rejudge(document)
    document["compare_rules"] = compare_rules(document)
    OUT_JSON.write_text(json.dumps(document, indent=1) + "\n")
    plot(document)


def earlier_trials(fresh: dict) -> dict:
    """The JSON's document, to add trials to: only when they were taken the same way."""
    document = json.loads(OUT_JSON.read_text())
    for key in ("what", "budget_s", "streams"):
        if document.get(key) != fresh[key]:
            raise SystemExit(
                f"--append: {OUT_JSON} has {key} {document.get(key)!r}, this run {fresh[key]!r}"
            )
    if "sittings" not in document:  # taken before sittings were kept: its start, as stored
        document["sittings"] = [{"first_order": 0, "machine": document["machine"]}]
    document["machine"] = fresh["machine"]
    return document


def rejudge(document: dict, min_effect_pct: float = 3.0) -> None:
    """Judge every trial again from its stored windows with today's rule (bench.ab.measure's
    sequential_looks on its scheduled looks), so a trial taken before a fix of the rule is
    counted as the fixed `bench ab` would have called it; the call made then is kept too."""
    from bench.ab.measure import sequential_looks
    from bench.ab.stats import ALPHA, WINDOWS_PER_SIDE, session_log_ratios

    for trial in document["trials"]:
        if "a_seconds" not in trial:
            continue
        trial.setdefault("verdict_when_run", trial["verdict"])
        ratios = session_log_ratios(trial["a_seconds"], trial["b_seconds"], WINDOWS_PER_SIDE)
        schedule = trial["schedule"]
        looks, verdict, _ = sequential_looks(
            ratios, schedule, 1.0 - ALPHA / len(schedule), min_effect_pct
        )
        trial["verdict"] = verdict.value if verdict is not None else "inconclusive"
        last = looks[-1] if looks else None
        trial["change_pct"] = last.change_pct if last else None
        trial["low_pct"] = last.low_pct if last else None
        trial["high_pct"] = last.high_pct if last else None


def compare_rules(document: dict) -> list[dict]:
    """compare's old rule (25% and both IQRs) and its noise-derived one, on the same windows.

    Each trial's A windows and B windows are taken as two runs of one identity (their
    images/s per window), as `compare` would see a baseline and a current run: how often
    does each rule call `slower`, per planted slowdown?
    """
    import numpy as np

    from bench.noise_tolerance import noise_tolerance

    outcomes = []
    for trial in document["trials"]:
        if "a_seconds" not in trial:
            continue
        images = trial["window_steps"] * 64
        a = images / np.asarray(trial["a_seconds"])
        b = images / np.asarray(trial["b_seconds"])
        change_pct = 100.0 * (np.median(b) / np.median(a) - 1.0)
        move = abs(np.median(b) - np.median(a))
        iqr = [float(np.subtract(*np.percentile(x, [75, 25]))) for x in (a, b)]
        beyond = move > iqr[0] and move > iqr[1]
        noise = noise_tolerance([a.tolist()], [b.tolist()])
        outcomes.append(
            {
                "fraction": trial["fraction"],
                "load": trial["load"],
                "old_slower": bool(beyond and change_pct < -25.0),
                "noise_slower": bool(beyond and change_pct < -noise.tolerance_pct),
                "noise_tolerance_pct": noise.tolerance_pct,
                "noise_detectable_pct": noise.detectable_pct,
            }
        )
    return outcomes


def table(document: dict) -> str:
    """The README's table: per planted slowdown (and load), trials, calls, median time."""
    import pandas as pd

    frame = pd.DataFrame([t for t in document["trials"] if "verdict" in t])
    lines = [
        "| planted slowdown | competing process | trials | slower | faster | same | "
        "inconclusive | median change of images/s | median wall time (s) |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for (fraction, load), part in frame.groupby(["fraction", "load"]):
        counts = part["verdict"].value_counts()
        lines.append(
            f"| {fraction:.0%} | {'yes' if load else 'no'} | {len(part)} | "
            + " | ".join(
                str(counts.get(v, 0)) for v in ("slower", "faster", "same", "inconclusive")
            )
            + f" | {part['change_pct'].median():+.1f}% | {part['early_stop_wall_s'].median():.0f} |"
        )
    return "\n".join(lines)


def plot(document: dict) -> None:
    """Detection rate (share called slower) against the planted slowdown, with trial counts."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    import pandas as pd
    from scipy import stats

    frame = pd.DataFrame([t for t in document["trials"] if "verdict" in t])
    frame["slower"] = frame["verdict"] == "slower"
    table = frame.groupby(["fraction", "load"])["slower"].agg(["sum", "count"]).reset_index()
    figure, axes = plt.subplots(figsize=(6, 4))
    for load, part in table.groupby("load"):
        low, high = zip(
            *(
                stats.binomtest(int(s), int(n)).proportion_ci()
                for s, n in zip(part["sum"], part["count"], strict=False)
            ),
            strict=False,
        )
        rate = (part["sum"] / part["count"]).to_numpy()
        axes.errorbar(
            100 * part["fraction"],
            100 * rate,
            yerr=[100 * (rate - np.asarray(low)), 100 * (np.asarray(high) - rate)],
            marker="o",
            capsize=3,
            linestyle="-" if not load else "none",
            label="with a competing CPU-bound process" if load else "background load only",
        )
    axes.axhline(5, color="grey", linestyle=":", label="5% (false-alarm target)")
    axes.axhline(90, color="grey", linestyle="--", label="90% (detection target)")
    axes.set_xlabel("planted slowdown of vanilla/torch's step (%)")
    axes.set_ylabel("called slower (%), 95% Clopper-Pearson")
    axes.set_ylim(-3, 103)
    axes.legend(fontsize=7, loc="center right")
    figure.tight_layout()
    figure.savefig(OUT_PNG, dpi=110)


if __name__ == "__main__":
    main()
