"""Crafted result rows for the report tests: plausible numbers, no training.

Speeds and parameter counts are those of the README's smoke table (2-core
CPU), with a few percent of seed noise; quality improves over four
evaluations as a real run's does. `crafted_rows` adds, on request, the runs
a report must never drop: a failure, a divergence, and a failure whose error
is an attempt at script injection.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.results import ROWS_DIR, Row
from implementations.registry import BUILT_IN_VARIANTS
from implementations.spec import make_spec

MALICIOUS_ERROR = "<script>alert(1)</script>"
VARIANTS = BUILT_IN_VARIANTS  # PROFILE below has a line for each
FRAMEWORKS = ("torch", "tf")
# (images/s, params G, params D, final FID in classifier features)
PROFILE: dict[tuple[str, str], tuple[float, int, int, float]] = {
    ("vanilla", "torch"): (3_805.0, 2_503_984, 533_505, 48.0),
    ("vanilla", "tf"): (5_459.0, 2_503_984, 533_505, 47.0),
    ("conditional", "torch"): (3_671.0, 2_515_984, 538_625, 40.0),
    ("conditional", "tf"): (4_804.0, 2_515_984, 538_625, 41.0),
    ("dcgan", "torch"): (592.0, 1_806_081, 138_689, 18.0),
    ("dcgan", "tf"): (629.0, 1_806_081, 138_689, 19.5),
    ("lsgan", "torch"): (620.0, 1_806_081, 138_689, 22.0),
    ("lsgan", "tf"): (623.0, 1_806_081, 138_689, 21.0),
    ("ssgan", "torch"): (5_340.0, 694_784, 601_610, 61.0),
    ("ssgan", "tf"): (7_982.0, 694_784, 601_610, 63.0),
}
STEPS = {"dcgan": 150, "lsgan": 150}
BATCH_SIZE = 64
WINDOWS = 10
WARMUP_STEPS = 20
EVAL_POINTS = 4
INCEPTION_REASON = "pytorch-fid weights not found at ~/.cache/torch/hub/checkpoints (offline)"


def crafted_rows(
    seeds: Sequence[int] = (0, 1, 2),
    variants: Sequence[str] = VARIANTS,
    frameworks: Sequence[str] = FRAMEWORKS,
    with_failures: bool = True,
    rng_seed: int = 0,
) -> list[Row]:
    """Rows of a finished suite; with_failures turns three of them into non-ok runs."""
    rng = np.random.default_rng(rng_seed)
    grids: dict[tuple[str, str], str] = {}
    rows = []
    for variant in variants:
        for framework in frameworks:
            grid = grids.setdefault((variant, framework), sample_grid(rng, variant))
            rows += [ok_row(variant, framework, seed, rng, grid) for seed in seeds]
    if with_failures:
        rows = [_spoil(row) for row in rows]
    return rows


# The references as measured on digits at 1,000 samples (bench/references.py), rounded.
REFERENCE_REAL = {
    "samples": 1000,
    "parzen_ll": 851.6,
    "fid_classifier": 9.12,
    "kid_classifier": -0.0012,
    "classifier_accuracy": 1.0,
    "fid_inception": None,
    "kid_inception": None,
}
REFERENCE_NOISE = {
    "samples": 1000,
    "parzen_ll": -566.2,
    "fid_classifier": 2681.5,
    "kid_classifier": 6.61,
    "classifier_accuracy": 0.099,
    "fid_inception": None,
    "kid_inception": None,
}


def ok_row(variant: str, framework: str, seed: int, rng: np.random.Generator, grid: str) -> Row:
    speed, params_g, params_d, final_fid = PROFILE[(variant, framework)]
    steps = STEPS.get(variant, 300)
    windows = speed * (1 + 0.04 * rng.standard_normal()) * (1 + 0.03 * rng.standard_normal(WINDOWS))
    images_per_s = float(np.median(windows))
    step_ms = np.sort(BATCH_SIZE / windows * 1000)
    timed_steps = steps - WARMUP_STEPS
    train_s = timed_steps * BATCH_SIZE / images_per_s
    history = loss_history(timed_steps, train_s, rng, variant)
    eval_history = quality_history(final_fid, train_s, timed_steps, rng)
    last = eval_history[-1]
    return Row(
        run_id=f"{variant}-{framework}-digits-cpu-fp32-default-b{BATCH_SIZE}-n{steps}-paper"
        f"-l100-s{seed}",
        suite="smoke",
        variant=variant,
        framework=framework,
        dataset="digits",
        seed=seed,
        batch_size=BATCH_SIZE,
        steps=steps,
        device="cpu",
        precision="fp32",
        compile="default",
        spec_preset="paper",
        status="ok",
        device_name="Intel(R) Xeon(R) CPU @ 2.20GHz",
        threads=2,
        ssl_labels=100 if variant == "ssgan" else None,
        label_use=make_spec(variant, (8, 8, 1), 10, "tiny").label_use,
        images_per_s=images_per_s,
        images_per_s_windows=[float(v) for v in windows],
        step_ms_p50=float(np.percentile(step_ms, 50)),
        step_ms_p90=float(np.percentile(step_ms, 90)),
        compile_s=float(rng.uniform(0.4, 3.5)),
        warmup_steps=WARMUP_STEPS,
        timed_steps=timed_steps,
        peak_mem_mb=float(rng.uniform(900, 1200)),
        peak_mem_kind="process_rss",
        params_generator=params_g,
        params_discriminator=params_d,
        train_wall_s=train_s + 1.0,
        reference_gflop_per_s=50.0,
        images_per_s_relative=images_per_s / 50.0,
        history=history,
        final_losses={k: v for k, v in history[-1].items() if k.endswith("loss")},
        eval_step=last["step"],
        eval_samples=1000,
        eval_wall_s=12.0,
        parzen_ll=last["parzen_ll"],
        parzen_se=2.1,
        parzen_sigma=0.17,
        parzen_samples=1000,
        fid_classifier=last["fid_classifier"],
        kid_classifier=last["kid_classifier"],
        kid_classifier_std=0.002,
        fid_inception_reason=INCEPTION_REASON,
        fid_real_images=360,
        classifier_test_accuracy=0.97,
        cond_accuracy=float(rng.uniform(0.7, 0.9)) if variant == "conditional" else None,
        ssl_accuracy=float(rng.uniform(0.8, 0.9)) if variant == "ssgan" else None,
        ssl_baseline_accuracy=float(rng.uniform(0.6, 0.7)) if variant == "ssgan" else None,
        probe_accuracy=None if variant == "conditional" else float(rng.uniform(0.6, 0.85)),
        metric_notes=metric_notes(variant),
        sample_grid_png=grid,
        eval_history=eval_history,
        reference_real=dict(REFERENCE_REAL),
        reference_noise=dict(REFERENCE_NOISE),
        versions={"torch": "2.14.1"}
        if framework == "torch"
        else {"tensorflow": "2.21.0", "keras": "3.15.1"},
        git_commit="b73ebc7",
        hostname="bench-host",
        started_at=f"2025-01-0{1 + seed}T10:00:00+00:00",
        wall_s=train_s + 20.0,
    )


def loss_history(
    timed_steps: int, train_s: float, rng: np.random.Generator, variant: str
) -> list[dict[str, float]]:
    """Per timing window: D's loss falls, G's rises, as in an early GAN run."""
    history = []
    for window in range(1, WINDOWS + 1):
        progress = window / WINDOWS
        entry = {
            "step": WARMUP_STEPS + round(timed_steps * progress),
            "train_s": train_s * progress,
            "d_loss": 1.35 - 0.4 * progress + 0.03 * rng.standard_normal(),
            "g_loss": 0.75 + 0.6 * progress + 0.03 * rng.standard_normal(),
        }
        if variant == "ssgan":
            entry["d_supervised_loss"] = 2.2 * (1 - 0.6 * progress)
        history.append(entry)
    return history


def quality_history(
    final_fid: float, train_s: float, timed_steps: int, rng: np.random.Generator
) -> list[dict[str, float]]:
    """Four evaluations: FID falls towards the implementation's final value, with seed noise."""
    noisy_final = final_fid * (1 + 0.05 * rng.standard_normal())
    points = []
    for k in range(1, EVAL_POINTS + 1):
        progress = k / EVAL_POINTS
        fid = noisy_final + (200.0 - noisy_final) * (1 - progress) ** 2
        points.append(
            {
                "step": WARMUP_STEPS + round(timed_steps * progress),
                "train_s": train_s * progress,
                "fid_classifier": fid,
                "kid_classifier": fid / 2_000.0,
                "parzen_ll": -400.0 + 6.0 * (200.0 - fid),
            }
        )
    return points


def metric_notes(variant: str) -> dict[str, str]:
    notes = {"fid_inception": INCEPTION_REASON}
    if variant != "conditional":
        notes["cond_accuracy"] = f"{variant}'s generator takes no label"
    if variant != "ssgan":
        notes["ssl_accuracy"] = f"{variant}'s discriminator is not a classifier"
    if variant == "conditional":
        notes["probe_accuracy"] = (
            "conditional's discriminator takes the label as input: "
            "a probe of its features would be given the answer"
        )
    return notes


def sample_grid(rng: np.random.Generator, variant: str) -> str:
    """A base64 PNG of 10 x 10 blurry 28 x 28 'digits' (smooth noise: any picture will do)."""
    from matplotlib import image as mpl_image

    noise = rng.random((10, 10, 7, 7))
    tiles = noise.repeat(4, axis=2).repeat(4, axis=3)  # 28 x 28, blocky
    if variant == "conditional":
        tiles = tiles * np.linspace(0.3, 1.0, 10)[:, None, None, None]  # row r looks alike
    grid = tiles.transpose(0, 2, 1, 3).reshape(280, 280)
    buffer = io.BytesIO()
    mpl_image.imsave(buffer, grid, cmap="gray", vmin=0.0, vmax=1.0, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _spoil(row: Row) -> Row:
    """Three runs that did not finish ok: an OOM, a divergence, and a hostile error text."""
    if (row.variant, row.framework, row.seed) == ("dcgan", "torch", 2):
        return _failed(row, "RuntimeError: DefaultCPUAllocator: not enough memory")
    if (row.variant, row.framework, row.seed) == ("conditional", "tf", 1):
        return _failed(row, MALICIOUS_ERROR)
    if (row.variant, row.framework, row.seed) == ("lsgan", "tf", 1):
        row.status = "diverged"
        row.error = "FloatingPointError: non-finite loss d_loss=nan at step 87"
        row.diverged_step = 87
        row.history = row.history[:3]
        _clear_quality(row)
    return row


def _failed(row: Row, error: str) -> Row:
    row.status = "failed"
    row.error = error
    row.traceback = f"Traceback (most recent call last):\n  ...\n{error}\n"
    for name in ("images_per_s", "step_ms_p50", "step_ms_p90", "compile_s", "train_wall_s"):
        setattr(row, name, None)
    row.images_per_s_windows = []
    row.history = []
    _clear_quality(row)
    return row


def _clear_quality(row: Row) -> None:
    for name in ("parzen_ll", "parzen_se", "fid_classifier", "kid_classifier", "probe_accuracy"):
        setattr(row, name, None)
    row.cond_accuracy = row.ssl_accuracy = row.ssl_baseline_accuracy = None
    row.eval_history = []
    row.sample_grid_png = None


def write_rows_fast(results_dir: Path, rows: Sequence[Row]) -> None:
    """Rows as bench.results lays them out, without write_row's fsync per file (10,000 rows)."""
    folder = Path(results_dir) / ROWS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        (folder / f"{row.run_id}.json").write_text(json.dumps(row.to_dict()))
