"""A fixed matmul timed in the run's own process: the yardstick for comparing machines.

Throughput measured on two machines (or on one noisy CPU at two moments) differs for
reasons that have nothing to do with the code under test. Each run therefore times the
same float32 matmul on its own device, with the same threads, just before training, and
stores its GFLOP/s; `images_per_s / reference_gflop_per_s` is then comparable where raw
images/s is not. TF32 is off for it, so it measures the same arithmetic everywhere.
"""

from __future__ import annotations

import time

import numpy as np

MATRIX_SIZE = 1024  # 2 x 1024^3 = 2.1 GFLOP per product: ~20-40 ms on 2 CPU threads
REPEATS = 9  # timed products; the median is kept
WARMUP = 2


def reference_gflop_per_s(device: str = "cpu") -> float:
    """Median GFLOP/s of a MATRIX_SIZE^2 float32 matmul on `device` ("cpu" or "cuda")."""
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATRIX_SIZE, MATRIX_SIZE, generator=generator).to(device)
    b = torch.randn(MATRIX_SIZE, MATRIX_SIZE, generator=generator).to(device)
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        seconds = []
        for index in range(WARMUP + REPEATS):
            _synchronize(device)
            start = time.perf_counter()
            torch.mm(a, b)
            _synchronize(device)
            if index >= WARMUP:
                seconds.append(time.perf_counter() - start)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous_tf32
    return 2.0 * MATRIX_SIZE**3 / float(np.median(seconds)) / 1e9


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
