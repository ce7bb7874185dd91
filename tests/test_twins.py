"""The torch and tf twins of each variant are the same model (real widths, "paper")."""

from __future__ import annotations

import numpy as np
import pytest

from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import make_spec, networks

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


def expected_kernel_std(layer, shape: tuple[int, ...]) -> float:
    """The spec's initialiser law: N(0, 0.02), or glorot_uniform's sqrt(2 / (fan_in + fan_out))."""
    if layer.initializer == "normal_0.02":
        return 0.02
    receptive_field = int(np.prod(shape[:-2]))
    return float(np.sqrt(2.0 / (receptive_field * (shape[-2] + shape[-1]))))


BATCH_NORM_START = {"gamma": 1.0, "beta": 0.0, "moving_mean": 0.0, "moving_variance": 1.0}


def test_twins_initialise_from_the_same_distributions(twins):
    # Different draws, same law, read from the spec layer by layer.
    torch_gan, tf_gan = twins
    layers = {
        f"{network}.{layer.name}": layer
        for network, network_layers, _ in networks(torch_gan.spec)
        for layer in network_layers
    }
    torch_weights, tf_weights = torch_gan.get_weights(), tf_gan.get_weights()
    for key, value in torch_weights.items():
        prefix, param = key.rsplit(".", 1)
        if param in BATCH_NORM_START or param == "bias":
            start = BATCH_NORM_START.get(param, 0.0)
            assert np.all(value == start) and np.all(tf_weights[key] == start), key
        elif value.size > 10_000:
            expected = expected_kernel_std(layers[prefix], value.shape)
            for weights in (value, tf_weights[key]):
                assert abs(weights.mean()) < 0.1 * expected, key
                assert abs(weights.std() / expected - 1.0) < 0.05, key


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


def fixed_noise(gan, latent: np.ndarray, to_tensor) -> None:
    """Replace the run's noise stream by fixed z, the same in both twins (test only)."""
    gan.noise = lambda n: to_tensor(latent)  # every batch in these tests has len(latent)


def test_one_training_step_moves_both_twins_the_same_way(twins, digits):
    """Identical weights, batch and z: the losses and the updated networks agree.

    Tolerances, from what float32 and the two Adams allow (measured: d_loss
    agrees to 1e-6 relative, g_loss to 2e-5, outputs after the step to 3e-4):
    - d_loss is computed from the identical starting weights: only float32
      summation order differs, so rtol 1e-5.
    - g_loss comes after the D update. Keras's Adam puts eps outside the bias
      correction (update = lr * g / (|g| + eps / sqrt(1 - beta2^t)) at step
      1, an effective eps 31.6x torch's), so parameters with |g| near 1e-6
      move by different fractions of lr: rtol and atol 1e-4 on the loss (ssgan's
      feature-matching g_loss is ~23: its twins differ by 1.7e-5 relative).
    - D's logits after the step: atol 1e-3, while the step moves them by more
      than 1e-2 (asserted, so the test has teeth).
    - G's images after the step: atol 5e-3, while the step moves them by more
      than 2e-2. A first Adam step moves a weight by about lr whatever |g|, so
      weights whose gradient is only rounding (BatchNorm's backward leaves some)
      take different steps in the twins; measured 3.6e-3 for ssgan (lr 5e-4,
      BatchNorm in G), under 3e-4 for the others.
    """
    torch_gan, tf_gan = twins
    import tensorflow as tf
    import torch

    tf_gan.set_weights(torch_gan.get_weights())
    latent = np.random.default_rng(7).standard_normal((64, torch_gan.spec.latent_dim))
    latent = latent.astype(np.float32)
    fixed_noise(torch_gan, latent, torch.from_numpy)
    fixed_noise(tf_gan, latent, tf.constant)
    images, labels = digits.train_images[:64], digits.train_labels[:64]
    everyone = np.ones(64, dtype=bool)
    probe = digits.test_images[:64]
    logits_before, samples_before = torch_gan.discriminate(probe), torch_gan.sample(8, seed=1)

    torch_losses = torch_gan.train_step(*torch_gan.to_device(images, labels, everyone))
    tf_losses = tf_gan.train_step(*tf_gan.to_device(images, labels, everyone))

    np.testing.assert_allclose(float(tf_losses["d_loss"]), float(torch_losses["d_loss"]), rtol=1e-5)
    np.testing.assert_allclose(
        float(tf_losses["g_loss"]), float(torch_losses["g_loss"]), rtol=1e-4, atol=1e-4
    )
    logits_after, samples_after = torch_gan.discriminate(probe), torch_gan.sample(8, seed=1)
    assert np.abs(logits_after - logits_before).max() > 1e-2
    assert np.abs(samples_after - samples_before).max() > 2e-2
    np.testing.assert_allclose(tf_gan.discriminate(probe), logits_after, atol=1e-3)
    np.testing.assert_allclose(tf_gan.sample(8, seed=1), samples_after, atol=5e-3)
