"""Every registered implementation satisfies the protocol in implementations/api.py."""

from __future__ import annotations

import math

import numpy as np
import pytest

from implementations import registry
from implementations.api import GAN, BuildOptions, UnsupportedOperationError
from implementations.spec import make_spec, trainable_count, weight_shapes

IMPLEMENTATIONS = [(r.framework, r.variant) for r in registry.registrations()]
ALL_32 = np.ones(32, dtype=bool)  # every label of a 32-image batch visible


@pytest.fixture(params=IMPLEMENTATIONS, ids=lambda key: f"{key[1]}-{key[0]}")
def gan(request, digits) -> GAN:
    framework, variant = request.param
    spec = make_spec(variant, digits.image_shape, digits.num_classes, preset="tiny")
    return registry.build(framework, variant, spec, BuildOptions(seed=0))


def test_implementation_is_a_gan_with_its_names(gan):
    assert isinstance(gan, GAN)
    assert (gan.framework, gan.variant) in IMPLEMENTATIONS


def test_train_step_returns_finite_device_losses_that_read_as_floats(gan, digits):
    batch = gan.to_device(digits.train_images[:32], digits.train_labels[:32], ALL_32)
    losses = gan.train_step(*batch)
    gan.synchronize()
    assert set(losses) >= {"d_loss", "g_loss"}
    assert all(math.isfinite(float(value)) for value in losses.values())


def test_train_step_changes_both_networks(gan, digits):
    before = gan.get_weights()
    gan.train_step(*gan.to_device(digits.train_images[:32], digits.train_labels[:32], ALL_32))
    after = gan.get_weights()
    for network in ("generator", "discriminator"):
        changed = [
            k for k in before if k.startswith(network) and not np.array_equal(before[k], after[k])
        ]
        assert changed, f"no {network} weight moved"


def test_sample_is_nhwc_in_range_and_reproducible_by_seed(gan):
    images = gan.sample(5, seed=3)
    assert images.shape == (5, 28, 28, 1) and images.dtype == np.float32
    assert images.min() >= -1.0 and images.max() <= 1.0
    np.testing.assert_array_equal(images, gan.sample(5, seed=3))
    assert not np.array_equal(images, gan.sample(5, seed=4))


def test_discriminator_outputs_have_one_logit_and_penultimate_features(gan, digits):
    images = digits.test_images[:7]
    assert gan.discriminate(images).shape == (7,)
    width = math.prod(gan.spec.feature_shape)
    assert gan.discriminator_features(images).shape == (7, width)


def test_classify_is_refused_by_variants_without_a_classifier(gan, digits):
    if gan.spec.label_use == "semi_supervised":
        pytest.skip("a semi-supervised discriminator classifies: tests/test_ssgan.py covers it")
    with pytest.raises(UnsupportedOperationError, match="ssgan only"):
        gan.classify(digits.test_images[:2])


def test_weights_round_trip_in_the_neutral_layout(gan, digits):
    weights = gan.get_weights()
    assert {k: v.shape for k, v in weights.items()} == weight_shapes(gan.spec)
    logits = gan.discriminate(digits.test_images[:4])
    gan.train_step(*gan.to_device(digits.train_images[:32], digits.train_labels[:32], ALL_32))
    gan.set_weights(weights)
    np.testing.assert_allclose(gan.discriminate(digits.test_images[:4]), logits, rtol=1e-6)


def test_set_weights_names_a_missing_parameter(gan):
    weights = gan.get_weights()
    missing = sorted(weights)[-1]
    del weights[missing]
    with pytest.raises(ValueError, match=rf"missing \['{missing}'\]"):
        gan.set_weights(weights)


def test_param_counts_match_the_spec_without_batch_norm_statistics(gan):
    expected = {
        network: trainable_count(gan.spec, network) for network in ("generator", "discriminator")
    }
    assert gan.num_params() == expected


def test_cpu_runs_report_no_device_memory_and_a_cpu_name(gan):
    facts = gan.run_facts()
    assert facts.peak_mem_mb is None
    assert facts.device_name == "cpu"
    assert facts.compile_detail in {"torch eager", "tf.function"}
