"""bench.reference_kernel: the machine yardstick reports the FLOPs it really did per second.

A clock that advances by a fixed step makes every timed product last exactly that long,
so rate x time must equal the FLOPs of one product, as torch's own FlopCounterMode counts
the matmuls the probe runs. A probe off by a factor of two (1 FLOP per multiply-add, or
half the time) fails here, where a test of `> 0` passes."""

import itertools

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench import reference_kernel
from bench.reference_kernel import matmul_flops, matmul_gflop_per_s

SIZE = 64  # 2 x 64^3 = 524,288 FLOPs per product: microseconds, whatever the load
STEP_S = 0.5  # what the fake clock advances per reading: each product takes exactly this


def fixed_step_clock(step_s: float):
    ticks = itertools.count()
    return lambda: next(ticks) * step_s


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_probe_rate_times_time_is_the_flops_torch_counts_for_its_matmul(precision: str) -> None:
    with FlopCounterMode(display=False) as counter:
        gflop_per_s = matmul_gflop_per_s(
            "cpu", SIZE, precision, tf32=False, clock=fixed_step_clock(STEP_S)
        )
    products = reference_kernel.WARMUP + reference_kernel.REPEATS
    counted_flops = counter.get_total_flops()
    assert counter.get_flop_counts()["Global"] == {torch.ops.aten.mm: counted_flops}
    assert counted_flops == products * 2 * SIZE**3  # torch counts 2 FLOPs per multiply-add
    # 524,288 / 0.5 / 1e9 and back: two roundings of a float64, so 1e-12, not ==.
    assert gflop_per_s * 1e9 * STEP_S == pytest.approx(counted_flops / products, rel=1e-12)


@pytest.mark.parametrize("size", [1, 7, 1024, 8192])
def test_matmul_flops_is_two_per_multiply_add(size: int) -> None:
    a = torch.empty(size, size, device="meta")
    with FlopCounterMode(display=False) as counter:
        torch.mm(a, a)
    assert matmul_flops(size) == counter.get_total_flops() == 2 * size**3
