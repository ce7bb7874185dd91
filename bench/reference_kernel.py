"""A fixed matmul timed in the run's own process: the yardstick for comparing machines.

Throughput measured on two machines (or on one noisy CPU at two moments) differs for
reasons that have nothing to do with the code under test. Each run therefore times the
same float32 matmul on its own device, with the same threads, just before training, and
stores its GFLOP/s; `images_per_s / reference_gflop_per_s` is then comparable where raw
images/s is not. TF32 is off for it, so it measures the same arithmetic everywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

MATRIX_SIZE = 1024  # 2 x 1024^3 = 2.1 GFLOP per product: ~20-40 ms on 2 CPU threads
# The peak probe for MFU: large enough to saturate a data-centre GPU's tensor cores
# (2 x 8192^3 = 1.1 TFLOP, ~1-2 ms in bf16 on an H100), the reference size on a CPU.
PEAK_MATRIX_SIZE = {"cuda": 8192, "cpu": MATRIX_SIZE}
REPEATS = 9  # timed products; the median is kept
WARMUP = 2


def reference_gflop_per_s(device: str = "cpu") -> float:
    """Median GFLOP/s of a MATRIX_SIZE^2 float32 matmul on `device` ("cpu" or "cuda")."""
    return matmul_gflop_per_s(device, MATRIX_SIZE, "fp32", tf32=False)


def peak_gflop_per_s(device: str, precision: str, tf32: bool) -> float:
    """The device's matmul peak as measured here, in the run's precision: MFU's denominator."""
    size = PEAK_MATRIX_SIZE["cuda" if device.startswith("cuda") else "cpu"]
    return matmul_gflop_per_s(device, size, precision, tf32)


def matmul_flops(size: int) -> int:
    """FLOPs of one size x size by size x size product: size^3 multiply-adds, 2 FLOPs each."""
    return 2 * size**3


def matmul_gflop_per_s(
    device: str,
    size: int,
    precision: str,
    tf32: bool,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Median GFLOP/s of a size x size matmul in "fp32" (TF32 as asked) or "bf16".

    `clock` (seconds) is injectable so a test can check rate x time against the FLOPs
    torch counts for the product.
    """
    import torch

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[precision]
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        seconds = []
        for index in range(WARMUP + REPEATS):
            _synchronize(device)
            start = clock()
            torch.mm(a, b)
            _synchronize(device)
            if index >= WARMUP:
                seconds.append(clock() - start)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous_tf32
    return matmul_flops(size) / float(np.median(seconds)) / 1e9


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
