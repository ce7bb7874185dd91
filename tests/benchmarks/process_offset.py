"""How far apart two processes of identical code run: the offset `bench ab`'s sessions average out.

    OMP_NUM_THREADS=1 PYTHONPATH=. python tests/benchmarks/process_offset.py fork|spawn

Ten processes, one after another, each build torch vanilla (paper preset, digits, seed 0),
warm up for 5 steps and time 60 steps at 1 thread. Printed: each process's median step
time, the SD of the log medians across processes, and the error of one median within its
process (bootstrap). An SD well above that error is an offset per process. `fork`: the
processes are forked from one parent that imported torch (what bench ab's sessions do);
`spawn`: each is a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np

PROCESSES = 10
TIMED_STEPS = 60


def step_seconds() -> list[float]:
    """Build, warm up and time TIMED_STEPS train steps in this process."""
    import torch

    from bench.datasets import load_dataset
    from implementations import registry
    from implementations.api import BuildOptions
    from implementations.spec import make_spec

    torch.set_num_threads(1)
    data = load_dataset("digits", None)
    spec = make_spec("vanilla", data.image_shape, data.num_classes, "paper")
    options = BuildOptions(seed=0, device="cpu", deterministic=True)
    gan = registry.build("torch", "vanilla", spec, options)
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(20):
        chosen = rng.choice(len(data.train_images), 64, replace=False)
        batches.append(gan.to_device(data.train_images[chosen], data.train_labels[chosen], None))
    for _ in range(5):
        gan.train_step(*batches[0])
    seconds = []
    for step in range(TIMED_STEPS):
        started = time.perf_counter()
        gan.train_step(*batches[step % len(batches)])
        seconds.append(time.perf_counter() - started)
    return seconds


def forked() -> list[float]:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.write(write_end, json.dumps(step_seconds()).encode())
        os._exit(0)
    os.close(write_end)
    data = b""
    while chunk := os.read(read_end, 65536):
        data += chunk
    os.waitpid(pid, 0)
    return json.loads(data)


def spawned() -> list[float]:
    done = subprocess.run(
        [sys.executable, __file__, "child"], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(mode: str) -> None:
    if mode == "child":
        print(json.dumps(step_seconds()))
        return
    import torch  # noqa: F401 - the parent a fork inherits, as in bench ab

    medians, errors = [], []
    for index in range(PROCESSES):
        logs = np.log(np.array(forked() if mode == "fork" else spawned()))
        medians.append(float(np.median(logs)))
        resampled = np.random.default_rng(index).choice(logs, (200, len(logs)))
        errors.append(float(np.median(resampled, axis=1).std()))
    print(mode, "median step ms per process:", np.round(np.exp(medians) * 1000, 1).tolist())
    print(
        f"{mode}: SD of log medians across processes {np.std(medians, ddof=1):.3f}, "
        f"error of one median {np.sqrt(np.mean(np.square(errors))):.3f}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
