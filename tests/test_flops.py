"""FLOPs per training step, counted by bench.flops, against hand counts for the MLP variants.

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

import pytest

from bench.flops import train_step_flops
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
