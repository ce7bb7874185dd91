"""What only a GPU can show, asserted: placement, bf16, compilation, CUDA graphs, the
deterministic switches, TF32, the CUDA Parzen path and Inception features on the device.

    python -m pytest tests/test_gpu.py -m gpu -o addopts=-ra -p no:cacheprovider

(`-o addopts=-ra`: a GPU box may lack pytest-benchmark, whose --benchmark-skip is in the
project's addopts.) About 3 minutes on one GPU, most of it torch.compile. Without a CUDA
GPU every test skips, saying so. Tests of the TensorFlow twin skip, saying why, where
tensorflow is not installed, except in CI (CI set), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest
import torch

from implementations import registry
from implementations.api import GAN, BuildOptions
from implementations.spec import make_spec
from metrics.parzen import parzen_log_likelihood, parzen_log_likelihood_per_point
from tests.conftest import run_cli, skip_unless_ci

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU; torch sees none"),
]
BATCH = 64


def build(variant: str, digits, **options) -> GAN:
    spec = make_spec(variant, digits.image_shape, digits.num_classes, "tiny")
    return registry.build(
        options.pop("framework", "torch"), variant, spec, BuildOptions(seed=0, **options)
    )


def staged_batch(gan, digits):
    return gan.to_device(
        digits.train_images[:BATCH], digits.train_labels[:BATCH], np.ones(BATCH, dtype=bool)
    )


@pytest.fixture
def restore_torch_switches() -> Iterator[None]:
    """Determinism and TF32 are process-wide: each test leaves them as it found them."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.backends.cuda.matmul.allow_tf32,
        torch.backends.cudnn.allow_tf32,
    )
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic = saved[1]
    torch.backends.cudnn.benchmark = saved[2]
    torch.backends.cuda.matmul.allow_tf32 = saved[3]
    torch.backends.cudnn.allow_tf32 = saved[4]


def test_torch_twin_keeps_weights_batches_noise_and_optimiser_state_on_the_gpu(digits):
    gan = build("dcgan", digits, device="cuda")
    staged = staged_batch(gan, digits)
    losses = gan.train_step(*staged)
    gan.synchronize()
    tensors = {
        "parameters": [p for net in (gan.generator, gan.discriminator) for p in net.parameters()],
        "staged batch": list(staged),
        "losses": list(losses.values()),
        "noise": [gan.noise(4)],
        "adam state": [
            value
            for optimizer in (gan.g_optimizer, gan.d_optimizer)
            for state in optimizer.state.values()
            for value in state.values()
            if torch.is_tensor(value) and value.dim() > 0
        ],
    }
    for name, group in tensors.items():
        assert group and {t.device.type for t in group} == {"cuda"}, name
    facts = gan.run_facts()
    assert facts.optimizer_detail == "torch.optim.Adam (fused), eager"
    assert facts.device_name == torch.cuda.get_device_name(0)
    assert facts.peak_mem_mb > 0


@pytest.mark.parametrize(
    ("precision", "dtype"), [("bf16", torch.bfloat16), ("fp32", torch.float32)]
)
def test_torch_layers_compute_in_the_run_precision_and_weights_stay_float32(
    precision, dtype, digits
):
    gan = build("dcgan", digits, device="cuda", precision=precision)
    seen: set[torch.dtype] = set()
    for network in (gan.generator, gan.discriminator):
        for module in network.layers.values():
            if isinstance(module, torch.nn.Linear | torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                module.register_forward_hook(lambda _m, _i, output: seen.add(output.dtype))
    losses = gan.train_step(*staged_batch(gan, digits))
    assert seen == {dtype}
    assert {v.dtype for v in losses.values()} == {torch.float32}
    assert {p.dtype for p in gan.generator.parameters()} == {torch.float32}
    assert gan.sample(8, seed=1).dtype == np.float32


def test_compiled_mode_runs_inductor_graphs_that_compute_what_eager_does(digits):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    eager = build("dcgan", digits, device="cuda")
    compiled = build("dcgan", digits, device="cuda", compile="compiled")  # same seed, weights
    assert isinstance(compiled.g_forward, torch._dynamo.eval_frame.OptimizedModule)
    compiled.train_step(*staged_batch(compiled, digits))
    assert counters["stats"]["unique_graphs"] >= 2  # at least G's and D's
    # The compiled generator's output and weight gradients are eager's, to float32 noise
    # (TF32 is off). Not the Adam step: at step 1 it moves each weight by lr * sign(grad).
    eager.set_weights(compiled.get_weights())
    z = torch.randn((BATCH, compiled.spec.latent_dim), device="cuda")
    outputs, gradients = [], []
    for network, forward in (
        (eager.generator, eager.generator),
        (compiled.generator, compiled.g_forward),
    ):
        network.zero_grad(set_to_none=True)
        output = forward(z)
        output.square().mean().backward()
        outputs.append(output.detach().cpu().numpy())
        gradients.append([p.grad.cpu().numpy() for p in network.parameters()])
    np.testing.assert_allclose(outputs[1], outputs[0], rtol=1e-4, atol=1e-5)
    for compiled_grad, eager_grad in zip(gradients[1], gradients[0], strict=True):
        np.testing.assert_allclose(
            compiled_grad, eager_grad, rtol=1e-3, atol=1e-4 * np.abs(eager_grad).max()
        )


def test_cudagraphs_mode_captures_cuda_graphs_and_skips_none(digits):
    from torch._dynamo.utils import counters
    from torch._inductor import cudagraph_trees

    torch._dynamo.reset()
    counters.clear()
    gan = build("dcgan", digits, device="cuda", compile="cudagraphs")
    staged = staged_batch(gan, digits)
    for _ in range(5):  # CUDA graph trees record after a warm-up call, then replay
        losses = gan.train_step(*staged)
    gan.synchronize()
    assert all(np.isfinite(float(v)) for v in losses.values())
    assert counters["inductor"]["cudagraph_skips"] == 0, dict(counters["inductor"])
    manager = cudagraph_trees.get_manager(torch.cuda.current_device(), False)
    assert manager is not None, "no CUDA graph tree was made"
    assert sum(len(nodes) for nodes in manager.roots.values()) >= 1


def test_a_non_deterministic_gpu_run_lets_cudnn_autotune(digits, restore_torch_switches):
    torch.backends.cudnn.deterministic = False
    gan = build("vanilla", digits, device="cuda", deterministic=False)
    assert gan.run_facts().determinism_settings["torch.backends.cudnn.benchmark"] == "True"


def test_deterministic_gpu_runs_are_bit_identical_and_record_their_switches(
    digits, restore_torch_switches
):
    weights = []
    for _ in range(2):
        gan = build("dcgan", digits, device="cuda", deterministic=True)
        staged = staged_batch(gan, digits)
        for _ in range(3):
            gan.train_step(*staged)
        weights.append(gan.get_weights())
    assert gan.run_facts().determinism_settings == {
        "torch.use_deterministic_algorithms": "True",
        "torch.backends.cudnn.deterministic": "True",
        "torch.backends.cudnn.benchmark": "False",
        "CUBLAS_WORKSPACE_CONFIG": os.environ["CUBLAS_WORKSPACE_CONFIG"],
    }
    for key, value in weights[0].items():
        assert np.array_equal(weights[1][key], value), key


def test_tf32_setting_is_what_fp32_matmuls_do_on_the_gpu(digits, restore_torch_switches):
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(1024, 1024, generator=generator, dtype=torch.float64) for _ in "ab")
    exact = a @ b
    errors = {}
    for enabled in (False, True):
        build("vanilla", digits, device="cuda", tf32=enabled)
        assert torch.backends.cuda.matmul.allow_tf32 is enabled
        assert torch.backends.cudnn.allow_tf32 is enabled
        product = (a.float().cuda() @ b.float().cuda()).double().cpu()
        errors[enabled] = float((product - exact).abs().max() / exact.abs().max())
    # float32 keeps 24 mantissa bits (relative error ~1e-7), TF32 10 (~1e-3).
    assert errors[False] < 1e-5 < 1e-4 < errors[True], errors


def test_parzen_on_cuda_equals_the_cpu_path():
    rng = np.random.default_rng(0)
    samples, test, valid = (rng.uniform(0, 1, (n, 64)) for n in (1500, 300, 200))
    on_cpu = parzen_log_likelihood(samples, test, valid, chunk_size=256)
    on_gpu = parzen_log_likelihood(samples, test, valid, chunk_size=256, device="cuda")
    assert on_gpu.sigma == on_cpu.sigma
    np.testing.assert_allclose(on_gpu.valid_ll, on_cpu.valid_ll, rtol=1e-12)
    np.testing.assert_allclose([on_gpu.ll, on_gpu.se], [on_cpu.ll, on_cpu.se], rtol=1e-12)
    np.testing.assert_allclose(
        parzen_log_likelihood_per_point(samples, test, 0.2, device="cuda"),
        parzen_log_likelihood_per_point(samples, test, 0.2),
        rtol=1e-12,
    )


def test_inception_features_on_the_gpu_match_the_cpu(restore_torch_switches):
    try:
        from metrics.inception import InceptionFeatures
    except ModuleNotFoundError as error:  # the fid extra: pytorch-fid and torchvision
        skip_unless_ci(f"the Inception network needs pytorch-fid ({error})")
    torch.backends.cudnn.allow_tf32 = False  # fp32 convolutions on both devices
    images = np.random.default_rng(0).uniform(-1, 1, (6, 28, 28, 1)).astype(np.float32)
    on_cpu = InceptionFeatures(random_weights=True, seed=0).features(images)
    network = InceptionFeatures(device="cuda", random_weights=True, seed=0)
    assert {p.device.type for p in network.model.parameters()} == {"cuda"}
    on_gpu = network.features(images)
    assert on_gpu.shape == (6, 2048)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-3, atol=1e-3 * np.abs(on_cpu).max())


def tensorflow_gpu():
    if not registry.framework_installed("tf"):
        skip_unless_ci("tensorflow is not installed (pip install -e '.[tf]')")
    import tensorflow as tf

    return tf


@pytest.mark.parametrize("compile_mode", ["default", "compiled"])
def test_tf_twin_trains_on_the_gpu_in_bf16(compile_mode, digits):
    tf = tensorflow_gpu()
    gan = build(
        "dcgan", digits, framework="tf", device="cuda", precision="bf16", compile=compile_mode
    )
    losses = gan.train_step(*staged_batch(gan, digits))
    assert all(np.isfinite(float(v)) for v in losses.values())
    variables = gan.generator.trainable_variables
    assert {"GPU" in v.value.device for v in variables} == {True}  # keras Variable -> tf
    assert {v.dtype for v in variables} == {"float32"}
    assert {m.compute_dtype for m in gan.generator.layers.values()} == {"bfloat16"}
    assert gan.run_facts().optimizer_detail.startswith("keras.optimizers.Adam, inside the step's")
    assert tf.config.experimental.tensor_float_32_execution_enabled() is False


@pytest.mark.slow
def test_a_gpu_run_records_device_tf32_determinism_optimiser_and_mfu(tmp_path):
    suite = tmp_path / "gpu-tiny.toml"
    suite.write_text(
        'variants = ["vanilla"]\nframeworks = ["torch"]\nprecisions = ["fp32", "bf16"]\n'
        'device = "cuda"\nsteps = 60\nwarmup_steps = 10\ntiming_windows = 5\n'
        'spec_preset = "tiny"\nthreads = 2\neval_samples = 500\ninception_fid = false\n'
    )
    out = tmp_path / "out"
    done = run_cli("run", "--suite", str(suite), "--out", str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    from bench.results import read_rows

    rows = sorted(read_rows(out), key=lambda row: row.precision)
    assert [(row.precision, row.status) for row in rows] == [("bf16", "ok"), ("fp32", "ok")]
    for row in rows:
        assert row.device_name == torch.cuda.get_device_name(0)
        assert row.peak_mem_kind == "device_allocator"
        assert row.tf32 is False
        assert row.optimizer_detail == "torch.optim.Adam (fused), eager"
        assert row.determinism_settings["torch.backends.cudnn.benchmark"] == "True"
        assert row.images_per_s > 0 and 0 < row.mfu < 1
