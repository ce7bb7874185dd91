"""The twins stay the same model over 50 training steps, fp32 on the CPU (real widths).

Same initial weights, the same 50 batches, the same z at every draw (tests/twin_training.py).
Before every step the tf twin takes the torch twin's weights, moving statistics and Adam
state, so every one of the 50 steps along torch's trajectory is compared from one state
(a free run measures chaos: at real widths one twin against itself, its weights moved by
one ulp, drifted 4e-2 in g_loss by step 50, as far as the twins did). Compared after
every step: both losses, every weight's update, the BatchNorm moving statistics, Adam's
two moments and its step count (gaps relative to what the step moved: see TwinGaps).
Bounds per variant: 10x the measured loss and moving-statistics gaps, 3x the update and
Adam gaps (float32 Adam turns a noise-level gradient into a full lr step, so these are
per-tensor worst cases). Measured with 1 thread, digits, batch 64, "paper":

    variant       loss     update   moving   adam
    vanilla       2.9e-6   1.6e-2   1.1e-5   1.6e-2   (G with BatchNorm since the standard suite)
    conditional   4.3e-6   1.3e-2   -        6.3e-3
    dcgan         3.7e-6   3.9e-3   1.4e-5   3.9e-3
    lsgan         6.4e-6   1.2e-2   6.0e-5   5.4e-3
    ssgan         7.2e-6   6.6e-3   1.1e-5   5.9e-3

Defects planted in one twin only (tests: /tmp plant scripts, 10 steps), each caught:
beta1 0.5 -> 0.6 or beta2 0.999 -> 0.99 in tf's Adam; torch BatchNorm with torch's own
unbiased moving variance (BiasedMovingVariance bypassed); tf conditional without
label_scale; tf ssgan's unsupervised terms counting the labelled half. Keras's own Adam
(epsilon outside the bias correction) is not used: see PaperAdam in
implementations/tf/common.py.
"""

from __future__ import annotations

import pytest
import torch

from implementations import registry
from tests.twin_training import TwinGaps, train_twins, worst_of

TOLERANCE = {
    "vanilla": TwinGaps(
        loss=3e-5, update=5e-2, moving_stats=1.1e-4, adam=5e-2, adam_steps_equal=True
    ),
    "conditional": TwinGaps(
        loss=4e-5, update=4e-2, moving_stats=0.0, adam=2e-2, adam_steps_equal=True
    ),
    "dcgan": TwinGaps(
        loss=4e-5, update=1.2e-2, moving_stats=1.4e-4, adam=1.2e-2, adam_steps_equal=True
    ),
    "lsgan": TwinGaps(
        loss=6.4e-5, update=3.6e-2, moving_stats=6e-4, adam=1.6e-2, adam_steps_equal=True
    ),
    "ssgan": TwinGaps(
        loss=7.2e-5, update=2e-2, moving_stats=1.1e-4, adam=1.8e-2, adam_steps_equal=True
    ),
}


@pytest.fixture(scope="module", params=list(registry.BUILT_IN_VARIANTS))
def measured(request, digits) -> tuple[str, TwinGaps]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return request.param, worst_of(train_twins(request.param, digits))
    finally:
        torch.set_num_threads(threads)


def test_every_built_in_variant_has_a_measured_tolerance():
    assert set(TOLERANCE) == set(registry.BUILT_IN_VARIANTS)


def test_twins_trained_50_steps_agree_within_the_variants_measured_tolerance(measured):
    variant, found = measured
    bound = TOLERANCE[variant]
    assert found.adam_steps_equal
    for name, gap in found.worst().items():
        assert gap <= bound.worst()[name], (
            f"{variant}: {name} gap {gap:.2e} > {bound.worst()[name]:.1e}"
        )
