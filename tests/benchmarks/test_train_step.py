"""Micro-benchmarks: one train_step of every implementation, timed by pytest-benchmark.

`tox -e micro` runs them (--benchmark-only), saves each run under .benchmarks/
and shows each median beside the last saved run's. It is not a gate: the same
code measured in two processes is too far apart for any fixed threshold
(tox.ini, reports/micro_false_alarms.json); `bench ab` is. `tox -e test` collects
and skips them (--benchmark-skip in pytest's addopts): they are slow.

As in bench.timing: the batch is staged on the device once, warm-up rounds
(tracing, allocator and cache warm-up) are not timed, and the device is
synchronised after every step, so a round times one whole step and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest

from implementations.api import BuildOptions
from implementations.registry import Registration, build, registrations
from implementations.spec import make_spec

BATCH_SIZE = 64
WARMUP_ROUNDS = 5
ROUNDS = 20  # timed steps per implementation; the median is what is compared


@pytest.mark.parametrize(
    "registration", registrations(), ids=lambda r: f"{r.variant}-{r.framework}"
)
def test_train_step(benchmark, registration: Registration, digits):
    spec = make_spec(registration.variant, digits.image_shape, digits.num_classes, "paper")
    gan = build(registration.framework, registration.variant, spec, BuildOptions(seed=0))
    staged = gan.to_device(
        digits.train_images[:BATCH_SIZE],
        digits.train_labels[:BATCH_SIZE],
        np.ones(BATCH_SIZE, dtype=bool),
    )

    def one_step() -> None:
        gan.train_step(*staged)
        gan.synchronize()

    benchmark.group = "train_step"
    benchmark.extra_info.update(
        variant=registration.variant, framework=registration.framework, batch_size=BATCH_SIZE
    )
    benchmark.pedantic(one_step, rounds=ROUNDS, iterations=1, warmup_rounds=WARMUP_ROUNDS)
