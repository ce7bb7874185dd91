"""Choose the standard suite's training lengths and settings on the VALIDATION split.

    python tools/tune_standard.py gan --variant vanilla --steps 3000 --eval-every 500 \
        --seeds 0 --lr 2e-4 --out reports/tuning/vanilla.json
    python tools/tune_standard.py plot reports/tuning/vanilla*.json --out reports/tuning/vanilla.png
    python tools/tune_standard.py ssl --steps 3000 --eval-every 500 --seeds 0 1 2 \
        --lr 2e-4 5e-4 1e-3 --out reports/tuning/ssgan.json

`gan` trains one variant in one framework with one setting and scores, every
--eval-every steps, the classifier FID of --samples generated images against the
validation split (metrics/ functions, the reference classifier), and
conditional's cond_accuracy. `ssl` trains ssgan and its supervised-only baseline
with each learning rate and scores both classifiers' accuracy on the validation
split. The test split is never read, so choosing from these numbers cannot fit it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np
import torch
import torch._dynamo

from bench.batches import labelled_subset, semi_supervised_batches, training_batches
from bench.config import default_cache_dir
from bench.datasets import load_dataset
from bench.evaluation import load_reference_classifier
from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import Adam, BatchNorm, Dense, GanSpec, make_spec
from metrics.classifier import conditional_accuracy
from metrics.fid import fid_from_features
from metrics.semisup import classification_accuracy

BASELINE_LOSS = "semi_supervised_baseline"


def tuned_spec(
    spec: GanSpec, lr: float | None, beta1: float | None, d_steps: int | None
) -> GanSpec:
    """The spec with the optimiser settings and k under trial replaced (both networks alike)."""
    changes = {}
    if lr is not None or beta1 is not None:
        for name in ("g_optimizer", "d_optimizer"):
            adam: Adam = getattr(spec, name)
            changes[name] = dataclasses.replace(
                adam,
                learning_rate=adam.learning_rate if lr is None else lr,
                beta1=adam.beta1 if beta1 is None else beta1,
            )
    if d_steps is not None:
        changes["d_steps_per_g_step"] = d_steps
    return dataclasses.replace(spec, **changes)


def with_generator_batchnorm(spec: GanSpec) -> GanSpec:
    """The spec whose hidden generator Dense layers are followed by BatchNorm (no bias, ReLU)."""
    layers = []
    for layer in spec.generator:
        if isinstance(layer, Dense) and layer.activation == "relu":
            layers += [
                dataclasses.replace(layer, activation="linear", use_bias=False),
                BatchNorm(f"{layer.name}_bn", activation="relu"),
            ]
        else:
            layers.append(layer)
    return dataclasses.replace(spec, generator=tuple(layers))


def train_and_score_gan(args: argparse.Namespace, seed: int) -> dict:
    """FID against the validation split (and cond_accuracy) every eval_every steps."""
    dataset = load_dataset("digits")
    classifier = load_reference_classifier(dataset, default_cache_dir())
    real_features = classifier.features(dataset.valid_images)
    spec = tuned_spec(
        make_spec(args.variant, dataset.image_shape, dataset.num_classes, args.preset),
        args.lr,
        args.beta1,
        args.d_steps,
    )
    if args.g_batchnorm:
        spec = with_generator_batchnorm(spec)
    gan = registry.build(args.framework, args.variant, spec, BuildOptions(seed=seed))
    every_label = np.ones(len(dataset.train_labels), dtype=bool)  # as the worker: all visible
    batches = training_batches(
        dataset.train_images,
        dataset.train_labels,
        args.batch_size,
        seed=seed,
        labelled_mask=every_label,
    )
    conditional = spec.generator_input[0] > spec.latent_dim
    labels = (torch.arange(args.samples) % dataset.num_classes).numpy() if conditional else None
    history, train_s = [], 0.0
    for step in range(1, args.steps + 1):
        staged = gan.to_device(*next(batches))
        started = time.perf_counter()
        gan.train_step(*staged)
        train_s += time.perf_counter() - started
        if step % args.eval_every == 0:
            samples = gan.sample(args.samples, labels, seed=seed)
            point = {
                "step": step,
                "train_s": round(train_s, 2),
                "fid_valid": fid_from_features(classifier.features(samples), real_features),
            }
            if conditional:
                point["cond_accuracy"] = conditional_accuracy(classifier, samples, labels)
            history.append(point)
            print(args.variant, args.framework, seed, point, file=sys.stderr, flush=True)
    return {"seed": seed, "history": history}


def train_and_score_ssl(args: argparse.Namespace, seed: int, lr: float, loss: str) -> dict:
    """Validation accuracy of ssgan's D (or the baseline's) every eval_every steps."""
    dataset = load_dataset("digits")
    spec = tuned_spec(
        dataclasses.replace(
            make_spec("ssgan", dataset.image_shape, dataset.num_classes), loss=loss
        ),
        lr,
        args.beta1,
        None,
    )
    gan = registry.build(args.framework, "ssgan", spec, BuildOptions(seed=seed))
    chosen = labelled_subset(dataset.train_labels, args.labels, seed)
    batches = semi_supervised_batches(
        dataset.train_images, dataset.train_labels, chosen, args.batch_size, seed
    )
    history = []
    for step in range(1, args.steps + 1):
        gan.train_step(*gan.to_device(*next(batches)))
        if step % args.eval_every == 0:
            accuracy = classification_accuracy(
                gan.classify(dataset.valid_images), dataset.valid_labels
            )
            history.append({"step": step, "valid_accuracy": accuracy})
    print(loss, args.framework, seed, lr, history[-1], file=sys.stderr, flush=True)
    return {"seed": seed, "learning_rate": lr, "loss": loss, "history": history}


def plot_fid_curves(paths: list[Path], out: Path) -> None:
    """Validation FID against training steps, one line per tuning file and seed.

    Steps, not seconds, on the x axis: a step count is reproducible, while these
    tuning runs shared the CPU with other work (their train_s is in the JSON).
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for path in paths:
        report = json.loads(path.read_text())
        for run in report["runs"]:
            steps = [point["step"] for point in run["history"]]
            fids = [point["fid_valid"] for point in run["history"]]
            axis.plot(steps, fids, marker="o", label=f"{path.stem} (seed {run['seed']})")
    axis.set_yscale("log")
    axis.set_xlabel("training step (batch 64)")
    axis.set_ylabel("classifier FID against the validation split")
    axis.axhline(150, color="grey", linestyle=":", label="target 150")
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["gan", "ssl", "plot"])
    parser.add_argument("inputs", type=Path, nargs="*", help="plot: tuning JSON files")
    parser.add_argument("--variant", default="vanilla")
    parser.add_argument("--framework", default="torch", choices=["torch", "tf"])
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--preset", default="paper", help="spec preset: paper, half or tiny")
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--lr", type=float, nargs="+", default=[None])
    parser.add_argument("--beta1", type=float, default=None)
    parser.add_argument("--d-steps", type=int, default=None)
    parser.add_argument("--g-batchnorm", action="store_true")
    parser.add_argument(
        "--losses", nargs="+", default=["semi_supervised", BASELINE_LOSS], help="ssl: what to train"
    )
    parser.add_argument("--labels", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.mode == "plot":
        plot_fid_curves(args.inputs, args.out)
        return
    if args.steps < 1 or args.eval_every < 1:
        parser.error("--steps and --eval-every must be >= 1")
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    if args.mode == "gan":
        args.lr = args.lr[0]
        runs = [train_and_score_gan(args, seed) for seed in args.seeds]
    else:
        runs = [
            train_and_score_ssl(args, seed, lr, loss)
            for lr in args.lr
            for loss in args.losses
            for seed in args.seeds
        ]
    settings = {k: v for k, v in vars(args).items() if k not in ("out", "inputs")}
    report = {
        "split": "valid",
        "settings": settings,
        "wall_s": round(time.perf_counter() - started, 1),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
