"""The twins stay the same model over 50 training steps, fp32 on the CPU (real widths).

Same initial weights, the same 50 batches, the same z at every draw (tests/twin_training.py).
Compared: both losses at every step; at the end every weight, the BatchNorm moving
statistics, Adam's two moments and its step count. Each gap is relative to what training
moved (see TwinGaps), and each variant's bound is 10x the gap measured with 1 thread
(python -m tests.twin_training, digits, batch 64, spec "paper"):

    variant       loss     update   moving   adam
    vanilla       1.8e-6   1.3e-5   -        1.4e-5
    conditional   1.2e-6   1.2e-5   -        1.3e-5
    dcgan         3.7e-6   2.5e-4   1.1e-6   5.8e-5
    lsgan         1.6e-6   1.4e-4   8.5e-7   5.1e-5
    ssgan         2.6e-5   1.6e-4   3.2e-6   4.1e-4

Defects planted in one twin only, each caught here (gap measured against the bound):
beta1 0.5 -> 0.6 or beta2 0.999 -> 0.99 in tf's make_adam; torch BatchNorm with the
unbiased moving variance (BiasedMovingVariance removed); tf conditional without
label_scale; tf ssgan's unsupervised terms counting the labelled half. With Keras's own
Adam (epsilon outside the bias correction) the gaps were 2-30%: see PaperAdam in
implementations/tf/common.py.
"""

from __future__ import annotations

import pytest
import torch

from implementations import registry
from tests.twin_training import TwinGaps, gaps, train_twins

TOLERANCE = {
    "vanilla": TwinGaps(loss=2e-5, update=2e-4, moving_stats=1e-5, adam=2e-4, adam_steps_equal=True),
    "conditional": TwinGaps(
        loss=2e-5, update=2e-4, moving_stats=1e-5, adam=2e-4, adam_steps_equal=True
    ),
    "dcgan": TwinGaps(loss=4e-5, update=3e-3, moving_stats=1e-5, adam=6e-4, adam_steps_equal=True),
    "lsgan": TwinGaps(loss=2e-5, update=2e-3, moving_stats=1e-5, adam=6e-4, adam_steps_equal=True),
    "ssgan": TwinGaps(loss=3e-4, update=2e-3, moving_stats=4e-5, adam=5e-3, adam_steps_equal=True),
}


@pytest.fixture(scope="module", params=list(registry.BUILT_IN_VARIANTS))
def measured(request, digits) -> tuple[str, TwinGaps]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return request.param, gaps(train_twins(request.param, digits))
    finally:
        torch.set_num_threads(threads)


def test_every_built_in_variant_has_a_measured_tolerance():
    assert set(TOLERANCE) == set(registry.BUILT_IN_VARIANTS)


def test_twins_trained_50_steps_agree_within_the_variants_measured_tolerance(measured):
    variant, found = measured
    bound = TOLERANCE[variant]
    assert found.adam_steps_equal
    for name, gap in found.worst().items():
        assert gap <= bound.worst()[name], f"{variant}: {name} gap {gap:.2e} > {bound.worst()[name]:.1e}"
