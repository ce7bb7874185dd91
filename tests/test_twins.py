"""The torch and tf twins of each variant are the same model (real widths, "paper")."""

from __future__ import annotations

import numpy as np
import pytest

from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import make_spec

TWINNED = [
    v
    for v in registry.variants()
    if {r.framework for r in registry.registrations() if r.variant == v} == {"torch", "tf"}
]


@pytest.fixture(params=TWINNED)
def twins(request, digits):
    spec = make_spec(request.param, digits.image_shape, digits.num_classes, preset="paper")
    torch_gan = registry.build("torch", request.param, spec, BuildOptions(seed=0))
    tf_gan = registry.build("tf", request.param, spec, BuildOptions(seed=0))
    return torch_gan, tf_gan


def test_twins_have_equal_parameter_counts(twins):
    torch_gan, tf_gan = twins
    assert torch_gan.num_params() == tf_gan.num_params()
    assert torch_gan.num_params()["generator"] > 0


def test_twins_share_weight_names_and_shapes(twins):
    torch_gan, tf_gan = twins
    torch_shapes = {k: v.shape for k, v in torch_gan.get_weights().items()}
    assert torch_shapes == {k: v.shape for k, v in tf_gan.get_weights().items()}


def test_twins_initialise_from_the_same_distributions(twins):
    # Different draws, same law: glorot_uniform has std sqrt(2 / (fan_in + fan_out)).
    torch_gan, tf_gan = twins
    torch_weights, tf_weights = torch_gan.get_weights(), tf_gan.get_weights()
    for key, value in torch_weights.items():
        if key.endswith(".bias"):
            assert not value.any() and not tf_weights[key].any()
        elif value.size > 10_000:
            fan_in, fan_out = value.shape
            expected_std = np.sqrt(2.0 / (fan_in + fan_out))
            for weights in (value, tf_weights[key]):
                assert abs(weights.std() / expected_std - 1.0) < 0.05, key


def test_copied_weights_give_the_same_outputs_to_1e4(twins, digits):
    torch_gan, tf_gan = twins
    tf_gan.set_weights(torch_gan.get_weights())
    np.testing.assert_allclose(tf_gan.sample(16, seed=5), torch_gan.sample(16, seed=5), atol=1e-4)
    images = digits.test_images[:32]
    np.testing.assert_allclose(
        tf_gan.discriminate(images), torch_gan.discriminate(images), atol=1e-4
    )
    np.testing.assert_allclose(
        tf_gan.discriminator_features(images), torch_gan.discriminator_features(images), atol=1e-4
    )
