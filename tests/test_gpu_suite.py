"""The GPU suite's parts that a CPU machine can check: the suite file, the GPU check, bf16,
compile modes a framework cannot do, TF32 settings, GPU pinning and the data fallback.

The GPU figures themselves come from `tox -e bench-gpu` on a GPU machine.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.config import RunSpec, load_suite
from bench.executors.local import GpuSlots, worker_environment
from bench.gpu_check import FrameworkGpus, missing_gpu_reason, runnable
from bench.reference_kernel import matmul_gflop_per_s
from bench.results import read_rows
from implementations import registry
from implementations.api import BuildOptions, UnsupportedOperationError
from implementations.spec import make_spec
from tests.conftest import run_cli

HAS_GPU = torch.cuda.is_available()


def test_the_gpu_suite_expands_into_every_combination_it_names():
    suite = load_suite("gpu")
    specs = suite.run_specs()
    assert (
        len(specs) == len(registry.registrations()) * 3 * 2 * 2 * 3
    )  # implementations x seeds x batches x precisions x modes
    assert len({spec.run_id for spec in specs}) == len(specs)
    assert {(s.variant, s.framework) for s in specs} == {
        (r.variant, r.framework) for r in registry.registrations()
    }
    assert {s.settings.device for s in specs} == {"cuda"}
    assert {s.batch_size for s in specs} == {64, 512}
    assert {s.precision for s in specs} == {"fp32", "bf16"}
    assert {s.compile for s in specs} == {"default", "compiled", "cudagraphs"}
    assert Counter(s.seed for s in specs) == {0: 120, 1: 120, 2: 120}
    assert suite.dataset == "mnist" and suite.fallback_dataset == "digits"
    assert suite.settings.tf32 is False and all(not s.settings.tf32 for s in specs)


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU: the no-GPU message cannot show")
def test_gpu_check_stops_with_one_line_naming_both_frameworks_without_a_gpu():
    done = run_cli("gpu-check")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "gpu-check: error" in line]
    assert len(errors) == 1
    assert "no GPU visible to torch" in errors[0] and "tensorflow" in errors[0]
    assert "never falls back to the CPU" in errors[0]
    assert "torch 2.14.1" in done.stdout and "tensorflow 2.21" in done.stdout
    assert done.stdout.splitlines()[-2:] == ["installed: torch, tf", "can run: none"]


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_the_gpu_suite_refuses_to_start_on_a_machine_without_a_gpu(tmp_path):
    done = run_cli("run", "--suite", "gpu", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "device 'cuda' requested but this machine has no NVIDIA GPU" in done.stderr
    assert not (tmp_path / "out").exists()


def test_missing_gpu_reason_names_only_the_frameworks_that_see_none():
    gpu = FrameworkGpus("torch", "2.14.1", "13.0", ("NVIDIA H100",))
    blind = FrameworkGpus("tf", "2.21.0", "12.5.1", ())
    assert missing_gpu_reason([gpu, gpu]) is None
    reason = missing_gpu_reason([gpu, blind], required=("torch", "tf"))
    assert reason.startswith("no GPU visible to tensorflow (CUDA build: 12.5.1): the GPU suite")
    assert "torch" not in reason


def test_gpu_check_passes_when_one_framework_can_run_unless_both_are_required():
    gpu = FrameworkGpus("torch", "2.11.0", "12.8", ("NVIDIA H200",))
    absent = FrameworkGpus("tf", "", "none", (), installed=False)
    assert runnable([gpu, absent]) == ["torch"]
    assert missing_gpu_reason([gpu, absent]) is None
    reason = missing_gpu_reason([gpu, absent], required=("torch", "tf"))
    assert reason.startswith("no GPU visible to tensorflow (not installed): ")
    assert absent.describe() == "tensorflow: not installed (pip install -e '.[tf]'): cannot run"
    assert gpu.describe() == "torch 2.11.0 (CUDA build: 12.8): NVIDIA H200: can run"


def test_gpu_check_with_no_runnable_framework_blames_only_the_installed_ones():
    blind = FrameworkGpus("torch", "2.11.0", "none", ())
    absent = FrameworkGpus("tf", "", "none", (), installed=False)
    reason = missing_gpu_reason([blind, absent])
    assert reason.startswith("no GPU visible to torch (CUDA build: none): the GPU suite")


def test_gpu_check_refuses_an_unknown_required_framework_in_one_line():
    done = run_cli("gpu-check", "--require", "torch,jax")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "python -m bench gpu-check: error: --require: unknown framework 'jax'; allowed: torch, tf"
    )


def test_torch_adam_is_the_fused_kernel_on_a_gpu_and_the_loop_on_the_cpu(digits):
    from implementations.torch.common import adam_implementation, make_adam

    settings = make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny").g_optimizer
    weights = [torch.nn.Parameter(torch.zeros(3))]
    # fused Adam accepts CPU tensors too (torch >= 2.4), so the choice is checked here.
    assert adam_implementation(make_adam(iter(weights), settings, torch.device("cuda"))) == "fused"
    assert adam_implementation(make_adam(iter(weights), settings, torch.device("cpu"))) == (
        "for-loop"
    )
    gan = registry.build(
        "torch",
        "vanilla",
        make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny"),
        BuildOptions(seed=0),
    )
    assert gan.run_facts().optimizer_detail == "torch.optim.Adam (for-loop), eager"


@pytest.mark.skipif(HAS_GPU, reason="on a GPU cudagraphs is supported by torch")
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_cudagraphs_is_unsupported_off_a_torch_gpu_and_says_why(framework, digits):
    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny")
    with pytest.raises(UnsupportedOperationError, match="cudagraphs"):
        registry.build(framework, "vanilla", spec, BuildOptions(seed=0, compile="cudagraphs"))


@pytest.mark.parametrize("framework", ["torch", "tf"])
@pytest.mark.parametrize("variant", ["dcgan", "ssgan"])
def test_bf16_twins_train_with_finite_losses_and_float32_outputs(framework, variant, digits):
    spec = make_spec(variant, digits.image_shape, digits.num_classes, "tiny")
    fp32 = registry.build(framework, variant, spec, BuildOptions(seed=0))
    bf16 = registry.build(framework, variant, spec, BuildOptions(seed=0, precision="bf16"))
    bf16.set_weights(fp32.get_weights())
    images = digits.train_images[:64]
    # One bf16 forward pass is the fp32 one to bf16's 8-bit mantissa (relative 2^-8 per
    # rounding, a few roundings deep): 5e-2 absolute on tanh outputs in [-1, 1].
    low, full = bf16.sample(16, seed=1), fp32.sample(16, seed=1)
    assert low.dtype == np.float32
    np.testing.assert_allclose(low, full, atol=5e-2)
    labels = digits.train_labels[:64]
    mask = np.arange(64) < 32 if variant == "ssgan" else None
    staged = bf16.to_device(images, labels, mask)
    for _ in range(3):
        losses = bf16.train_step(*staged)
    assert all(np.isfinite(float(v)) for v in losses.values())


def test_tf32_is_set_explicitly_in_both_frameworks(digits):
    import tensorflow as tf

    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny")
    for enabled in (True, False):
        registry.build("torch", "vanilla", spec, BuildOptions(seed=0, tf32=enabled))
        assert torch.backends.cuda.matmul.allow_tf32 is enabled
        assert torch.backends.cudnn.allow_tf32 is enabled
        registry.build("tf", "vanilla", spec, BuildOptions(seed=0, tf32=enabled))
        assert tf.config.experimental.tensor_float_32_execution_enabled() is enabled


def test_each_concurrent_cuda_run_holds_its_own_gpu():
    slots = GpuSlots(["0", "1"])
    held: list[str] = []
    overlap = threading.Barrier(2)

    def run() -> None:
        with slots.hold(True) as gpu:
            held.append(gpu)
            overlap.wait(timeout=10)  # both hold a GPU at the same moment
            time.sleep(0.05)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(held) == ["0", "1"]
    with slots.hold(False) as gpu:
        assert gpu is None  # a CPU run is pinned to nothing


def test_a_worker_pinned_to_a_gpu_sees_only_that_gpu():
    spec = load_suite("gpu").run_specs()[0]
    assert worker_environment(spec, "3")["CUDA_VISIBLE_DEVICES"] == "3"
    assert isinstance(spec, RunSpec)


def test_more_jobs_than_gpus_is_refused_in_one_line(tmp_path):
    import os

    os.environ["CUDA_VISIBLE_DEVICES"] = "0,1"
    try:
        done = run_cli("run", "--suite", "gpu", "--jobs", "3", "--out", str(tmp_path / "out"))
    finally:
        del os.environ["CUDA_VISIBLE_DEVICES"]
    assert done.returncode == 2
    assert "--jobs 3 with device cuda: one run per GPU, and this machine shows 2 (0, 1)" in (
        done.stderr
    )


def test_matmul_probe_measures_positive_gflops_in_both_precisions():
    assert matmul_gflop_per_s("cpu", 256, "fp32", tf32=False) > 0
    assert matmul_gflop_per_s("cpu", 64, "bf16", tf32=False) > 0


@pytest.mark.slow
def test_a_data_set_that_cannot_be_read_falls_back_and_the_rows_name_the_one_used(tmp_path):
    suite = tmp_path / "fallback.toml"
    suite.write_text(
        'dataset = "mnist"\nfallback_dataset = "digits"\nvariants = ["vanilla"]\n'
        'frameworks = ["torch"]\nsteps = 30\nwarmup_steps = 5\ntiming_windows = 5\n'
        'spec_preset = "tiny"\nthreads = 1\neval_samples = 200\ninception_fid = false\n'
    )
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = tmp_path / "out"
    done = run_cli("run", "--suite", str(suite), "--data-dir", str(empty), "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "falls back to 'digits'" in done.stderr
    assert [row.dataset for row in read_rows(out)] == ["digits"]
    assert shutil.which("python3")  # the suite ran offline: --data-dir never downloads
    assert Path(out / "report.html").is_file()
