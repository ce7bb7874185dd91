"""One suite and seed on the CPU gives bit-identical numbers, run after run, in both frameworks.

ssgan, whose rows carry every metric (Parzen LL, classifier FID and KID, the linear probe
on D's features, D's semi-supervised accuracy and its labels-only baseline), is run with
seeds 0 and 1, and then with seed 0 again, each time in fresh `python -m bench run`
processes (two runs at once, one thread each). Everything seed 0 computes must match to
the last bit: loss histories, final losses, every metric, and the PNG of the sample grid
(so the generator's weights match too). Only timings may differ. Seed 1 must differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.results import Row, read_rows
from tests.conftest import run_cli
from tests.suite_files import write_suite

FRAMEWORKS = ("torch", "tf")
REPRODUCED = (
    "final_losses",
    "parzen_ll",
    "parzen_se",
    "parzen_sigma",
    "fid_classifier",
    "kid_classifier",
    "kid_classifier_std",
    "probe_accuracy",
    "ssl_accuracy",
    "ssl_baseline_accuracy",
    "ssl_labelled_indices",
    "sample_grid_png",
    "params_generator",
    "params_discriminator",
    "flops_per_step",
)
TIMING_KEYS = {"train_s"}  # in history and eval_history entries: wall time, never equal

Runs = dict[str, dict[tuple[str, str, int], Row]]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    folder = tmp_path_factory.mktemp("determinism")
    suite = write_suite(
        folder, "determinism", variants=["ssgan"], frameworks=list(FRAMEWORKS), steps=30
    )
    found: Runs = {}
    for name, seeds in (("first", "0,1"), ("second", "0")):
        out = folder / name
        extra = ["--seeds", seeds]
        done = run_cli("run", "--suite", str(suite), "--out", str(out), "--jobs", "2", *extra)
        assert done.returncode == 0, done.stderr[-3000:]
        found[name] = {(r.variant, r.framework, r.seed): r for r in read_rows(Path(out))}
    return found


def reproducible(row: Row) -> dict[str, Any]:
    """What must be bit-identical between two runs of one seed: all but the timings."""
    values = {name: getattr(row, name) for name in REPRODUCED}
    for name in ("history", "eval_history"):
        values[name] = [
            {k: v for k, v in entry.items() if k not in TIMING_KEYS} for entry in getattr(row, name)
        ]
    return values


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_same_seed_gives_bit_identical_losses_and_metrics(runs, framework):
    first = runs["first"][("ssgan", framework, 0)]
    second = runs["second"][("ssgan", framework, 0)]
    assert first.status == second.status == "ok", (first.error, second.error)
    assert reproducible(first) == reproducible(second)
    assert first.history and first.eval_history
    for metric in ("parzen_ll", "fid_classifier", "probe_accuracy", "ssl_accuracy"):
        assert getattr(first, metric) is not None, metric
    assert first.train_wall_s != second.train_wall_s  # timings are measured, not replayed


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_another_seed_gives_other_losses_metrics_and_samples(runs, framework):
    seed_0 = runs["first"][("ssgan", framework, 0)]
    seed_1 = runs["first"][("ssgan", framework, 1)]
    assert seed_1.status == "ok"
    for name in ("final_losses", "parzen_ll", "fid_classifier", "sample_grid_png"):
        assert getattr(seed_0, name) != getattr(seed_1, name), name


@pytest.mark.slow
def test_rows_record_the_seed_and_the_determinism_switches(runs):
    torch_row = runs["first"][("ssgan", "torch", 0)]
    tf_row = runs["first"][("ssgan", "tf", 0)]
    assert torch_row.seed == tf_row.seed == 0
    assert torch_row.deterministic is tf_row.deterministic is True
    assert torch_row.determinism_settings == {
        "torch.use_deterministic_algorithms": "True",
        "torch.backends.cudnn.deterministic": "True",
        "torch.backends.cudnn.benchmark": "False",
        "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
    }
    assert tf_row.determinism_settings == {
        "tf.config.experimental.enable_op_determinism": "called",
        "TF_DETERMINISTIC_OPS": "",
    }


def test_a_later_model_in_the_process_does_not_undo_deterministic_kernels(digits):
    # The worker builds the run's GAN, then the FLOP counter builds another torch model with
    # default options: that one must not switch deterministic kernels off again (on a GPU it
    # did, and dcgan's training stopped being reproducible).
    import torch

    from bench.flops import train_step_flops
    from implementations.api import BuildOptions
    from implementations.registry import build
    from implementations.spec import make_spec

    spec = make_spec("vanilla", digits.image_shape, digits.num_classes, "tiny")
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic
    try:
        gan = build("torch", "vanilla", spec, BuildOptions(seed=0, deterministic=True))
        train_step_flops(spec, 8, 0)
        assert torch.are_deterministic_algorithms_enabled()
        assert gan.run_facts().determinism_settings["torch.use_deterministic_algorithms"] == "True"
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.cudnn.deterministic = before[1]
