"""FLOPs per training step, counted by bench.flops on each twin, against hand counts and each other.

A dense layer in -> out on a batch of B costs m = 2*B*in*out FLOPs forward, and as much
again for each gradient backward computes: the weight gradient when its weights train, the
input gradient when what feeds it needs one. With k = 1 one vanilla train_step is

  D step: G forward under no_grad (FG), D forward on real and fake (2 FD), and backward of
          both: weight gradients of every D layer (2 FD) and input gradients of every D layer
          but the first, whose input (images, detached fakes) needs none (2 (FD - m(d1))).
  G step: G forward (FG), D forward (FD); backward: D's input gradients only, D being frozen
          (FD), G's weight gradients (FG) and input gradients but the first (FG - m(g1)).

  total = 4 FG + 8 FD - 2 m(d1) - m(g1)
"""

from __future__ import annotations

import dataclasses

import pytest

from bench.flops import train_step_flops
from implementations.registry import variants
from implementations.spec import Dense, make_spec, network_shapes


def dense_costs(layers, input_shape, batch_size: int) -> list[int]:
    """2*B*in*out for every Dense layer of a network, in order."""
    return [
        2 * batch_size * inputs[-1] * layer.units
        for layer, inputs, _ in network_shapes(layers, input_shape)
        if isinstance(layer, Dense)
    ]


@pytest.mark.parametrize("variant", ["vanilla", "conditional"])
@pytest.mark.parametrize("preset", ["paper", "tiny"])
def test_mlp_train_step_flops_equal_the_hand_count(variant, preset):
    batch_size = 64
    spec = make_spec(variant, (28, 28, 1), 10, preset)
    g = dense_costs(spec.generator, spec.generator_input, batch_size)
    d = dense_costs(spec.discriminator, spec.discriminator_input, batch_size)
    hand_count = 4 * sum(g) + 8 * sum(d) - 2 * d[0] - g[0]
    assert train_step_flops(spec, batch_size) == hand_count


def test_flops_scale_linearly_with_the_batch():
    spec = make_spec("dcgan", (28, 28, 1), 10, "tiny")
    assert train_step_flops(spec, 32) * 2 == train_step_flops(spec, 64)


def ssgan_unused_logits_flops(spec, batch_size: int) -> int:
    """torch's G step runs D's class-logit layer on real and fake features and drops it;
    TensorFlow's traced graph prunes those two matmuls (2 * 2*B*features*K)."""
    features, classes = spec.feature_shape[0], spec.num_classes
    return 2 * 2 * batch_size * features * classes


@pytest.mark.parametrize("variant", variants())
def test_tf_counts_its_own_traced_step_like_torch_counts_its_twin(variant):
    # Counted independently: torch's FlopCounterMode, TensorFlow's traced graph. Agreement
    # is exact, but for ssgan's two matmuls that only torch runs (the stated tolerance).
    spec = make_spec(variant, (28, 28, 1), 10, "tiny")
    torch_count = train_step_flops(spec, 32, framework="torch")
    tf_count = train_step_flops(spec, 32, framework="tf")
    unused = ssgan_unused_logits_flops(spec, 32) if variant == "ssgan" else 0
    assert tf_count == torch_count - unused


def test_an_extra_discriminator_step_in_the_tf_twin_only_makes_compare_say_changed(monkeypatch):
    from bench.compare import Verdict, compare_rows
    from implementations.tf.vanilla import VanillaGAN
    from tests.test_compare import make_row

    spec = make_spec("dcgan", (28, 28, 1), 10, "tiny")
    before = train_step_flops(spec, 32, framework="tf")
    torch_before = train_step_flops(spec, 32, framework="torch")
    step = VanillaGAN.train_step

    def with_extra_d_step(self, images, labels, labelled_mask):
        self.spec = dataclasses.replace(self.spec, d_steps_per_g_step=2)  # the planted defect
        return step(self, images, labels, labelled_mask)

    monkeypatch.setattr(VanillaGAN, "train_step", with_extra_d_step)
    after = train_step_flops(spec, 32, framework="tf")
    assert train_step_flops(spec, 32, framework="torch") == torch_before  # torch unchanged
    assert after > before
    baseline = make_row(variant="dcgan", framework="tf", flops_per_step=before)
    current = make_row(variant="dcgan", framework="tf", flops_per_step=after)
    comparison = compare_rows([baseline], [current])
    assert comparison.identities[0].verdict is Verdict.CHANGED and comparison.regressed
