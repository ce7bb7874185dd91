"""ssgan (Salimans et al. 2016): its losses, its twins step for step, its labels, its accuracy.

The generic protocol and twin tests cover ssgan like every variant; these
pin what only ssgan has: classify(), the semi-supervised losses, the
supervised-only baseline, and the bookkeeping that keeps all but N labels
out of training.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import replace

import numpy as np
import pytest
import scipy.stats
import torch

# Loads triton now, before any test imports tensorflow: in this environment importing
# triton after tensorflow segfaults, and torch's first optimiser imports it.
import torch._dynamo

from bench.batches import labelled_subset, semi_supervised_batches
from bench.timing import measure_training
from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import GanSpec, make_spec

BASELINE_LOSS = "semi_supervised_baseline"
LOSS_NAMES = {"d_loss", "g_loss", "d_supervised_loss", "d_unsupervised_loss"}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """torch on one intra-op thread for these tests, restored after.

    On 2 cores shared with other work, torch's 2 threads spin waiting for each
    other: measured 1.5 s per paper-width ssgan step against 22 ms on one thread.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ssgan_spec(digits, preset: str = "paper", loss: str = "semi_supervised") -> GanSpec:
    return replace(make_spec("ssgan", digits.image_shape, digits.num_classes, preset), loss=loss)


def build_twins(digits, tf_spec: GanSpec | None = None, seed: int = 0):
    """torch and tf ssgan from the same spec, tf holding a copy of torch's weights.

    torch is built first on purpose: its optimiser loads triton, which must
    come before tensorflow (see the import above).
    """
    spec = ssgan_spec(digits)
    torch_gan = registry.build("torch", "ssgan", spec, BuildOptions(seed=seed))
    tf_gan = registry.build("tf", "ssgan", tf_spec or spec, BuildOptions(seed=seed))
    tf_gan.set_weights(torch_gan.get_weights())
    return torch_gan, tf_gan


def first_semi_supervised_batch(digits, batch_size: int, seed: int = 0):
    chosen = labelled_subset(digits.train_labels, 100, seed)
    batches = semi_supervised_batches(
        digits.train_images, digits.train_labels, chosen, batch_size, seed
    )
    return next(batches)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


# --- classify() ---------------------------------------------------------------------------


def test_copied_weights_classify_the_same_to_1e4(digits):
    torch_gan, tf_gan = build_twins(digits)
    images = digits.test_images[:64]
    torch_logits, tf_logits = torch_gan.classify(images), tf_gan.classify(images)
    assert torch_logits.shape == (64, digits.num_classes)
    np.testing.assert_allclose(tf_logits, torch_logits, atol=1e-4)
    # The real-vs-fake logit is logsumexp over the K class logits (fake logit fixed at 0).
    for gan, logits in ((torch_gan, torch_logits), (tf_gan, tf_logits)):
        shifted = logits.max(axis=1)
        expected = shifted + np.log(np.exp(logits - shifted[:, None]).sum(axis=1))
        np.testing.assert_allclose(gan.discriminate(images), expected, rtol=1e-6, atol=1e-6)


# --- the losses, against a float64 oracle ---------------------------------------------------


def loss_functions(framework: str):
    """(module, to_tensor) for one framework's ssgan loss functions."""
    module = importlib.import_module(f"implementations.{framework}.ssgan")
    if framework == "torch":
        return module, torch.from_numpy
    import tensorflow as tf

    return module, tf.constant


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_losses_match_the_paper_formulas_in_float64(framework):
    module, to_tensor = loss_functions(framework)
    rng = np.random.default_rng(0)
    real_logits = (3.0 * rng.standard_normal((8, 10))).astype(np.float32)
    real_logits[4] = 200.0  # exp overflows float32: the stable forms must stay finite
    fake_logits = (3.0 * rng.standard_normal((6, 10))).astype(np.float32)
    fake_logits[0] = 200.0
    labels = np.array([2, 5, 9, -1, -1, -1, -1, -1])
    mask = labels != -1
    real_features = rng.standard_normal((8, 4)).astype(np.float32)
    fake_features = rng.standard_normal((6, 4)).astype(np.float32)

    # Oracle in float64: D(x) = Z / (Z + 1), Z = sum_k exp(l_k); fake class has logit 0.
    real_z = np.exp(real_logits.astype(np.float64)).sum(axis=1)
    fake_z = np.exp(fake_logits.astype(np.float64)).sum(axis=1)
    expected_supervised = -log_softmax(real_logits.astype(np.float64))[[0, 1, 2], labels[:3]].mean()
    expected_unsupervised = (
        -np.log(real_z / (real_z + 1))[~mask].mean() - np.log(1 / (fake_z + 1)).mean()
    )
    expected_matching = np.sum(
        (real_features[~mask].mean(axis=0) - fake_features.mean(axis=0)) ** 2
    )

    weights = module.unlabelled_weights(to_tensor(mask))
    np.testing.assert_array_equal(np.asarray(weights), (~mask).astype(np.float32))
    supervised = module.supervised_loss(
        to_tensor(real_logits), to_tensor(labels.astype(np.int64)), to_tensor(mask)
    )
    unsupervised = module.unsupervised_loss(to_tensor(real_logits), to_tensor(fake_logits), weights)
    matching = module.feature_matching_loss(
        to_tensor(real_features), to_tensor(fake_features), weights
    )
    np.testing.assert_allclose(float(supervised), expected_supervised, rtol=1e-5)
    np.testing.assert_allclose(float(unsupervised), expected_unsupervised, rtol=1e-5)
    np.testing.assert_allclose(float(matching), expected_matching, rtol=1e-5)


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_a_batch_without_unlabelled_examples_uses_all_of_it_and_without_labels_none(framework):
    # A fully labelled batch (the protocol's plain batches) still trains the GAN terms,
    # and a batch with no labelled example contributes 0 supervised loss, not NaN.
    module, to_tensor = loss_functions(framework)
    all_labelled = np.ones(4, dtype=bool)
    np.testing.assert_array_equal(
        np.asarray(module.unlabelled_weights(to_tensor(all_labelled))), np.ones(4)
    )
    logits = np.zeros((4, 10), dtype=np.float32)
    no_labels = np.full(4, -1, dtype=np.int64)
    loss = module.supervised_loss(to_tensor(logits), to_tensor(no_labels), to_tensor(~all_labelled))
    assert float(loss) == 0.0


# --- the twins, one training step apart -------------------------------------------------------


def fix_noise(torch_gan, tf_gan, latent: np.ndarray) -> None:
    """Test only: both twins draw the same z (each otherwise has its own RNG stream)."""
    import tensorflow as tf

    torch_gan.noise = lambda n: torch.from_numpy(latent[:n])
    tf_gan.noise = lambda n: tf.constant(latent[:n])


def generated_in_training_mode(torch_gan, tf_gan, latent: np.ndarray) -> tuple[np.ndarray, ...]:
    """G(z) with BatchNorm on batch statistics, as the training step sees it, in both twins."""
    import tensorflow as tf

    with torch.no_grad():
        torch_images = torch_gan.generator(torch.from_numpy(latent)).numpy()
    return torch_images, tf_gan.generator(tf.constant(latent), training=True).numpy()


def one_step_from_copied_weights(digits, tf_spec: GanSpec | None = None):
    """Losses, then D's class logits and G's images after one step, in both twins."""
    torch_gan, tf_gan = build_twins(digits, tf_spec)
    batch = first_semi_supervised_batch(digits, batch_size=100)
    latent = np.random.default_rng(7).standard_normal((100, 100)).astype(np.float32)
    fix_noise(torch_gan, tf_gan, latent)
    probe = digits.test_images[:128]
    probe_latent = np.random.default_rng(8).standard_normal((64, 100)).astype(np.float32)
    logits_before = torch_gan.classify(probe)
    generated_before = generated_in_training_mode(torch_gan, tf_gan, probe_latent)[0]
    torch_losses = torch_gan.train_step(*torch_gan.to_device(*batch))
    tf_losses = tf_gan.train_step(*tf_gan.to_device(*batch))
    generated = generated_in_training_mode(torch_gan, tf_gan, probe_latent)
    return {
        "losses": tuple(
            {name: float(value) for name, value in losses.items()}
            for losses in (torch_losses, tf_losses)
        ),
        "logits": (torch_gan.classify(probe), tf_gan.classify(probe)),
        "logits_moved": np.abs(torch_gan.classify(probe) - logits_before).max(),
        "generated": generated,
        "generated_moved": np.abs(generated[0] - generated_before).max(),
    }


def test_one_step_from_copied_weights_gives_the_same_losses_and_update(digits):
    # Paper widths, a real semi-supervised batch (50 labelled, 50 unlabelled), the
    # generator's BatchNorm in training mode in both the D step and the G step.
    step = one_step_from_copied_weights(digits)
    torch_losses, tf_losses = step["losses"]
    assert set(torch_losses) == set(tf_losses) == LOSS_NAMES
    # The d_* losses come from identical weights. Each ends a chain of float32 dot
    # products (up to 784 terms) and batch means over ~1e5 values, summed in different
    # orders (oneDNN vs torch's CPU kernels): rounding that walks randomly over ~1e5
    # terms reaches ~sqrt(1e5) * 6e-8 ~ 2e-5 relative. Measured: equal to 2e-7.
    for name in LOSS_NAMES - {"g_loss"}:
        np.testing.assert_allclose(tf_losses[name], torch_losses[name], rtol=2e-5, err_msg=name)
    # g_loss is computed by D *after* its update, so it also carries the update's rounding:
    # measured 4.3e-6 relative (3.4e-5 with Keras's eps placement, next test).
    np.testing.assert_allclose(tf_losses["g_loss"], torch_losses["g_loss"], rtol=1.5e-5)
    torch_logits, tf_logits = step["logits"]
    # After the step D's logits (moved by ~2) agree to 1.45e-5 (measured), since the tf
    # twin's PaperAdam places eps as torch does. 5e-5 allows another machine's rounding
    # and fails on Keras's own placement (next test: 1.5e-4).
    assert step["logits_moved"] > 0.1
    np.testing.assert_allclose(tf_logits, torch_logits, atol=5e-5)
    # G's step is looser: Adam's first step is lr * sign(g) for every |g| >> eps, and G's
    # gradients pass BatchNorm's backward, which subtracts batch means, so a few weights'
    # gradients are pure rounding (cancellation) and step +-lr either way. Measured: G(z)
    # off by 2.0e-3; 5e-3 is still 35x below what the step moves G(z) by (0.18).
    torch_generated, tf_generated = step["generated"]
    assert step["generated_moved"] > 0.03
    np.testing.assert_allclose(tf_generated, torch_generated, atol=5e-3)


def test_keras_eps_placement_would_move_the_logits_past_the_twin_tolerance(digits):
    # The tolerance above is tight enough to see the Keras trap. Keras's Adam divides by
    # sqrt(v) + eps, torch by sqrt(v_hat) + eps: at t = 1 Keras's effective eps is
    # eps / sqrt(1 - b2), 31.6x torch's. Giving the tf twin that eps reproduces Keras's
    # step 1; D's logits then differ by 1.5e-4 (measured), 10x the twins' gap.
    spec = ssgan_spec(digits)

    def keras_placement(adam):
        return replace(adam, eps=adam.eps / math.sqrt(1.0 - adam.beta2))

    tf_spec = replace(
        spec,
        d_optimizer=keras_placement(spec.d_optimizer),
        g_optimizer=keras_placement(spec.g_optimizer),
    )
    torch_logits, tf_logits = one_step_from_copied_weights(digits, tf_spec)["logits"]
    assert np.abs(tf_logits - torch_logits).max() > 1e-4


# --- the supervised-only baseline ------------------------------------------------------------


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_baseline_trains_only_the_classifier_on_the_labelled_half(framework, digits):
    spec = ssgan_spec(digits, preset="tiny", loss=BASELINE_LOSS)
    images, labels, mask = first_semi_supervised_batch(digits, batch_size=32)
    gan = registry.build(framework, "ssgan", spec, BuildOptions(seed=0))
    before = gan.get_weights()
    logits = gan.classify(images[mask]).astype(np.float64)
    losses = gan.train_step(*gan.to_device(images, labels, mask))
    assert set(losses) == {"d_loss", "g_loss"} and float(losses["g_loss"]) == 0.0
    expected = -log_softmax(logits)[np.arange(mask.sum()), labels[mask]].mean()
    np.testing.assert_allclose(float(losses["d_loss"]), expected, rtol=1e-5)
    after = gan.get_weights()
    for key in before:
        moved = not np.array_equal(before[key], after[key])
        assert moved == key.startswith("discriminator."), key
    # The unlabelled half is never seen: other images there give the very same update.
    other = images.copy()
    other[~mask] = digits.train_images[-int((~mask).sum()) :]
    twin = registry.build(framework, "ssgan", spec, BuildOptions(seed=0))
    twin.train_step(*twin.to_device(other, labels, mask))
    for key, value in twin.get_weights().items():
        np.testing.assert_array_equal(value, after[key], err_msg=key)


# --- labels: only the N chosen ones are ever visible ---------------------------------------


def test_labelled_subset_is_balanced_and_reproducible_by_seed(digits):
    chosen = labelled_subset(digits.train_labels, 100, seed=0)
    assert len(np.unique(chosen)) == 100
    np.testing.assert_array_equal(np.bincount(digits.train_labels[chosen], minlength=10), [10] * 10)
    np.testing.assert_array_equal(chosen, labelled_subset(digits.train_labels, 100, seed=0))
    assert not np.array_equal(chosen, labelled_subset(digits.train_labels, 100, seed=1))


def test_a_run_sees_exactly_the_n_chosen_labels_and_minus_one_elsewhere(digits):
    count, seed, batch_size, steps = 100, 3, 32, 80
    half = batch_size // 2
    chosen = set(labelled_subset(digits.train_labels, count, seed).tolist())
    index_of = {image.tobytes(): index for index, image in enumerate(digits.train_images)}
    assert len(index_of) == len(digits.train_images)  # no duplicates: an image names its index
    gan = registry.build("torch", "ssgan", ssgan_spec(digits, "tiny"), BuildOptions(seed=seed))
    staged_batches = []
    stage = gan.to_device

    def recording_to_device(images, labels, labelled_mask):
        staged_batches.append((images.copy(), labels.copy(), np.array(labelled_mask)))
        return stage(images, labels, labelled_mask)

    gan.to_device = recording_to_device  # everything the GAN is given, recorded
    batches = semi_supervised_batches(
        digits.train_images, digits.train_labels, np.array(sorted(chosen)), batch_size, seed
    )
    measure_training(gan, batches, batch_size, steps, warmup_steps=5, windows=3)

    assert len(staged_batches) == steps
    visible = set()
    for images, labels, mask in staged_batches:
        np.testing.assert_array_equal(mask, np.arange(batch_size) < half)
        assert (labels[~mask] == -1).all()
        for image, label in zip(images[mask], labels[mask], strict=True):
            index = index_of[image.tobytes()]
            assert index in chosen and label == digits.train_labels[index]
            visible.add(index)
    assert visible == chosen and len(visible) == count


# --- accuracy: ssgan against the same classifier trained on the labels alone --------------

# Digits has 1,078 training images; 100 labels (10 per class, as Salimans et al. on MNIST)
# already give a supervised classifier most of what all labels give, so the unlabelled
# images have only a few points to add.
#
# Every setting here was chosen on the VALIDATION split, never on the test split
# (tools/tune_standard.py ssl), and ssgan and its supervised-only baseline had the same
# tuning budget: the same three Adam learning rates (2e-4, 5e-4, 1e-3, both networks
# alike) for 1,500 steps, scored by validation accuracy. First on seed 0 alone
# (reports/tuning/ssgan.json: both chose 5e-4), then on seeds 0, 1, 2
# (reports/tuning/ssgan_3_seeds.json, 2026-12-04): ssgan 5e-4 best (0.941 +/- 0.009); for
# the baseline the three rates lie within 0.4 points (0.900, 0.901, 0.903 +/- 0.01-0.02),
# 1e-3 minus 5e-4 paired by seed +0.28 points (p = 0.73), so 5e-4 stays for both. A
# 750-step claim would halve this test but was rejected: there ssgan has not converged on
# validation (0.911 against 0.941). The test then trains on fresh seeds and reads the test
# split once.
ACCURACY_LABELS = 100
ACCURACY_BATCH = 100  # 50 labelled (cycled) + 50 unlabelled per step
ACCURACY_STEPS = 1_500
SSGAN_LEARNING_RATE = 5e-4
BASELINE_LEARNING_RATE = 5e-4
ACCURACY_SEEDS = (3, 4, 5)  # not the tuning seeds
VERDICT_ALPHA = 0.05  # Welch's t-test, two-sided, on the per-seed test accuracies


def accuracy_after_training(
    framework: str, digits, loss: str, learning_rate: float, seed: int
) -> float:
    """Test-split accuracy of D's classifier after ACCURACY_STEPS steps with `loss`."""
    spec = ssgan_spec(digits, loss=loss)
    adam = replace(spec.d_optimizer, learning_rate=learning_rate)
    spec = replace(spec, d_optimizer=adam, g_optimizer=adam)
    gan = registry.build(framework, "ssgan", spec, BuildOptions(seed=seed))
    chosen = labelled_subset(digits.train_labels, ACCURACY_LABELS, seed)
    batches = semi_supervised_batches(
        digits.train_images, digits.train_labels, chosen, ACCURACY_BATCH, seed
    )
    measure_training(gan, batches, ACCURACY_BATCH, ACCURACY_STEPS, warmup_steps=10, windows=5)
    predicted = gan.classify(digits.test_images).argmax(axis=1)
    return float(np.mean(predicted == digits.test_labels))


def test_the_spec_trains_ssgan_and_its_baseline_with_the_rates_chosen_on_validation(digits):
    # The worker trains the baseline with ssgan's spec, loss replaced: one rate serves both
    # only because validation chose the same one for each.
    spec = ssgan_spec(digits)
    assert spec.d_optimizer.learning_rate == spec.g_optimizer.learning_rate == SSGAN_LEARNING_RATE
    assert BASELINE_LEARNING_RATE == SSGAN_LEARNING_RATE


def welch_verdict(ssgan: list[float], baseline: list[float]) -> str:
    """ "better", "worse" or "too close to call": Welch's t-test on the per-seed accuracies.

    Welch's, not Student's: nothing says the two spreads are equal (the baseline has no
    generator to add noise). Two-sided, at VERDICT_ALPHA.
    """
    p_value = scipy.stats.ttest_ind(ssgan, baseline, equal_var=False).pvalue
    if p_value >= VERDICT_ALPHA:
        return "too close to call"
    return "better" if np.mean(ssgan) > np.mean(baseline) else "worse"


# Test-split accuracy at seeds 3, 4, 5, 1,500 steps (2026-12-04, this test's code):
#   torch: ssgan 0.931 / 0.936 / 0.922 (0.930 +/- 0.007), baseline 0.922 / 0.917 / 0.897
#          (0.912 +/- 0.013), Welch p = 0.13
#   tf:    ssgan 0.950 / 0.939 / 0.892 (0.927 +/- 0.031), baseline 0.933 / 0.917 / 0.892
#          (0.914 +/- 0.021), Welch p = 0.59
# ssgan's mean is 1-2 points higher in both, as on validation, but three seeds cannot tell it
# from seed noise at this budget, so ssgan claims no lead over its baseline on digits.
EXPECTED_VERDICT = {"torch": "too close to call", "tf": "too close to call"}


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_ssgan_against_its_baseline_over_three_seeds_gives_the_measured_verdict(framework, digits):
    # Same D architecture, same labels, same batches, same steps, the same tuned learning
    # rate: only the GAN terms differ. The claim is Welch's test on three seeds, not one
    # seed chosen after the fact; where it is "too close to call", ssgan claims nothing.
    ssgan = [
        accuracy_after_training(framework, digits, "semi_supervised", SSGAN_LEARNING_RATE, seed)
        for seed in ACCURACY_SEEDS
    ]
    baseline = [
        accuracy_after_training(framework, digits, BASELINE_LOSS, BASELINE_LEARNING_RATE, seed)
        for seed in ACCURACY_SEEDS
    ]
    summary = (
        f"{framework}: ssgan {np.mean(ssgan):.3f} +/- {np.std(ssgan, ddof=1):.3f}, baseline "
        f"{np.mean(baseline):.3f} +/- {np.std(baseline, ddof=1):.3f}"
    )
    assert welch_verdict(ssgan, baseline) == EXPECTED_VERDICT[framework], summary


def test_welch_verdict_calls_a_clear_gap_and_not_a_noisy_one():
    assert welch_verdict([0.95, 0.96, 0.97], [0.90, 0.91, 0.92]) == "better"
    assert welch_verdict([0.90, 0.91, 0.92], [0.95, 0.96, 0.97]) == "worse"
    assert welch_verdict([0.93, 0.96, 0.90], [0.92, 0.95, 0.91]) == "too close to call"
