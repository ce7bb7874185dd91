"""One RunSpec in its own process -> one result row.

    python -m bench.worker SPEC_JSON ROW_JSON

The worker builds the implementation through the registry (so it imports
only the framework it runs), trains it under bench.timing, and writes its
row. Anything that goes wrong inside the run becomes a row with a status
and an error, never a traceback that kills the suite. What the worker cannot
report itself (a kill, a hang) the executor turns into a row (bench.record).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

# Metrics use torch; torch._dynamo must be loaded before tensorflow or it segfaults later.
import torch._dynamo  # noqa: F401
from tqdm import tqdm

from bench import references
from bench.batches import labelled_subset, semi_supervised_batches, training_batches
from bench.catalogue import MFU
from bench.config import RunSpec, default_cache_dir
from bench.datasets import Dataset, load_dataset
from bench.evaluation import (
    EvaluationSettings,
    Evaluator,
    NonFiniteSamplesError,
    evaluation_windows,
)
from bench.flops import train_step_flops
from bench.memory import is_out_of_memory, memory_cap, process_peak_rss_mb
from bench.record import ModelFacts, Outcome, Provenance, RunRecord, Utilisation, assemble_row
from bench.reference_kernel import peak_gflop_per_s, reference_gflop_per_s
from bench.results import Row, write_row_file
from bench.timing import (
    Batch,
    DivergedError,
    ProgressCallback,
    TrainingMeasurement,
    WindowCallback,
    measure_training,
)
from bench.worker_env import PARENT_PID_ENV, thread_environment
from implementations import registry
from implementations.api import GAN, BuildOptions, UnsupportedOperationError
from implementations.spec import GanSpec, make_spec
from metrics.semisup import classification_accuracy

BASELINE_LOSS = "semi_supervised_baseline"
EXIT_ORPHANED = 3  # the executor that started this worker (PARENT_PID_ENV) was gone


def execute(spec: RunSpec) -> Row:
    """Run one spec and return its row (complete in every outcome the worker survives)."""
    os.environ.update(thread_environment(spec.settings.threads))
    started = time.perf_counter()
    provenance = Provenance.here(spec.framework)
    record = RunRecord()
    try:
        _train(spec, record)
        outcome = Outcome("ok")
    except DivergedError as error:
        record.measurement = error.measurement
        outcome = Outcome.of_error("diverged", error, diverged_step=error.step)
    except NonFiniteSamplesError as error:
        outcome = Outcome.of_error("diverged", error, diverged_step=error.step)
    except UnsupportedOperationError as error:
        outcome = Outcome("unsupported", error=f"unsupported: {error}")
    except Exception as error:
        if not is_out_of_memory(error):
            record.measurement = None  # a failed run's timings are not a measurement
            outcome = Outcome.of_error("failed", error)
        else:
            cap = spec.settings.max_mem_mb
            limit = f", max_mem_mb = {cap}" if cap is not None else ""
            prefix = f"out of memory at batch size {spec.batch_size}{limit}: "
            outcome = Outcome.of_error("oom", error, prefix=prefix)
    facts = record.gan.run_facts() if record.gan is not None else None
    wall_s = time.perf_counter() - started
    return assemble_row(spec, outcome, provenance, record, facts, wall_s, process_peak_rss_mb())


def build_options(spec: RunSpec) -> BuildOptions:
    """What the implementation is told about this run: the one copy into the protocol's type."""
    settings = spec.settings
    return BuildOptions(
        seed=spec.seed,
        device=settings.device,
        compile=spec.compile,
        precision=spec.precision,
        tf32=settings.tf32,
        deterministic=settings.uses_deterministic_kernels,
    )


def _train(spec: RunSpec, record: RunRecord) -> None:
    """Data, model, training loop, evaluations: the run proper. Raises on failure."""
    dataset = load_dataset(spec.dataset, Path(spec.data_dir) if spec.data_dir else None)
    settings = spec.settings
    shape, classes = dataset.image_shape, dataset.num_classes
    gan_spec = make_spec(spec.variant, shape, classes, settings.spec_preset)
    record.label_use = gan_spec.label_use
    record.gan = registry.build(spec.framework, spec.variant, gan_spec, build_options(spec))
    started = time.perf_counter()
    evaluator = Evaluator(dataset, gan_spec, evaluation_settings(spec))
    record.references = references.load_or_compute(evaluator, evaluator_cache_dir(spec))
    record.eval_wall_s += time.perf_counter() - started
    # The framework, the model and the reference classifier are loaded: the cap starts here.
    with memory_cap(settings.max_mem_mb):
        _measure(spec, record, dataset, gan_spec, record.gan, evaluator)


def _measure(
    spec: RunSpec,
    record: RunRecord,
    dataset: Dataset,
    gan_spec: GanSpec,
    gan: GAN,
    evaluator: Evaluator,
) -> None:
    """FLOPs, the timed training with its evaluations, ssgan's baseline: what the cap covers."""
    semi_supervised = gan_spec.label_use == "semi_supervised"
    # The labelled few are drawn once, recorded, and the only labels training sees.
    labelled = _labelled_few(spec, dataset) if semi_supervised else None
    params = gan.num_params()
    record.model = ModelFacts(
        params_generator=params["generator"],
        params_discriminator=params["discriminator"],
        flops_per_step=train_step_flops(gan_spec, spec.batch_size, spec.seed, spec.framework),
        fid_real_images=len(dataset.test_images),
        classifier_test_accuracy=evaluator.classifier.test_accuracy,
        reference_gflop_per_s=reference_gflop_per_s(spec.settings.device),
        ssl_labels=spec.settings.ssl_labels if semi_supervised else None,
        ssl_labelled_indices=labelled.tolist() if labelled is not None else [],
    )
    eval_windows = evaluation_windows(spec.settings.timing_windows, spec.settings.eval_points)

    def evaluate(window: int, measurement: TrainingMeasurement) -> None:
        record.measurement = measurement
        if window in eval_windows:
            started = time.perf_counter()
            record.evaluations.append(
                evaluator.evaluate(gan, measurement.steps_done, measurement.train_wall_s)
            )
            record.eval_wall_s += time.perf_counter() - started

    label = f"{spec.variant}/{spec.framework} s{spec.seed} b{spec.batch_size}"
    with tqdm(total=spec.settings.steps, desc=label, unit="step", file=sys.stderr) as bar:

        def on_progress(steps_done: int, losses: dict[str, float]) -> None:
            bar.update(steps_done - bar.n)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=True)

        batches = _batches(spec, dataset, gan_spec, labelled)
        record.measurement = _timed_training(spec, gan, batches, on_progress, evaluate)
    if record.measurement.images_per_s is not None:
        record.utilisation = _utilisation(spec, record.measurement.images_per_s, record.model)
        if record.utilisation.mfu is None:
            record.notes[MFU.name] = (
                f"the {spec.precision} matmul probe "
                f"({record.utilisation.peak_gflop_per_s:.2f} GFLOP/s) ran slower than the model "
                f"itself ({record.utilisation.achieved_gflop_per_s:.2f} GFLOP/s), so it is no "
                "peak on this device and no MFU is given"
            )
    if semi_supervised:
        started = time.perf_counter()
        record.ssl_baseline_accuracy = _supervised_baseline_accuracy(
            spec, dataset, gan_spec, labelled
        )
        record.eval_wall_s += time.perf_counter() - started


def _timed_training(
    spec: RunSpec,
    gan: GAN,
    batches: Iterator[Batch],
    on_progress: ProgressCallback | None = None,
    on_window: WindowCallback | None = None,
) -> TrainingMeasurement:
    """bench.timing's loop with this run's steps, warm-up and windows."""
    settings = spec.settings
    return measure_training(
        gan,
        batches,
        spec.batch_size,
        settings.steps,
        settings.warmup_steps,
        settings.timing_windows,
        on_progress,
        on_window,
        train_budget_s=settings.train_budget_s,
    )


def _utilisation(spec: RunSpec, images_per_s: float, model: ModelFacts) -> Utilisation:
    """Achieved model GFLOP/s and its share of the matmul peak measured here (MFU)."""
    achieved = model.flops_per_step * images_per_s / spec.batch_size / 1e9
    peak = peak_gflop_per_s(spec.settings.device, spec.precision, spec.settings.tf32)
    # Seen on CPUs: without bf16 matmul units torch's bf16 matmul is emulated, and even in
    # fp32 TensorFlow's convolutions beat a 1024^2 torch matmul on 2 threads. Either way
    # the probe is not a peak, and no MFU is honest.
    return Utilisation(
        achieved_gflop_per_s=achieved,
        peak_gflop_per_s=peak,
        mfu=achieved / peak if achieved <= peak else None,
        images_per_s_relative=images_per_s / model.reference_gflop_per_s,
    )


def _labelled_few(spec: RunSpec, dataset: Dataset) -> np.ndarray:
    """The ssl_labels training indices a semi-supervised run may read the labels of."""
    return labelled_subset(dataset.train_labels, spec.settings.ssl_labels, seed=spec.seed)


def _batches(
    spec: RunSpec, dataset: Dataset, gan_spec: GanSpec, labelled: np.ndarray | None
) -> Iterator[Batch]:
    """Training batches: half labelled, half unlabelled for a semi-supervised variant."""
    if gan_spec.label_use == "semi_supervised":
        return semi_supervised_batches(
            dataset.train_images, dataset.train_labels, labelled, spec.batch_size, spec.seed
        )
    every_label = np.ones(len(dataset.train_labels), dtype=bool)  # supervised use: all
    return training_batches(
        dataset.train_images,
        dataset.train_labels,
        spec.batch_size,
        spec.seed,
        labelled_mask=every_label,
    )


def _supervised_baseline_accuracy(
    spec: RunSpec, dataset: Dataset, gan_spec: GanSpec, labelled: np.ndarray | None
) -> float:
    """ssgan's D trained on the same N labels alone, same batches and steps: its test accuracy."""
    baseline_spec = dataclasses.replace(gan_spec, loss=BASELINE_LOSS)
    baseline = registry.build(spec.framework, spec.variant, baseline_spec, build_options(spec))
    _timed_training(spec, baseline, _batches(spec, dataset, baseline_spec, labelled))
    return classification_accuracy(baseline.classify(dataset.test_images), dataset.test_labels)


def evaluation_settings(spec: RunSpec) -> EvaluationSettings:
    """What the evaluator needs of this run: its settings, seed and where files are."""
    settings = spec.settings
    return EvaluationSettings(
        samples=settings.eval_samples,
        inception=settings.inception_fid,
        inception_weights=Path(spec.fid_weights) if spec.fid_weights else None,
        probe_labels=settings.ssl_labels,
        seed=spec.seed,
        device=settings.device,
        cache_dir=evaluator_cache_dir(spec),
    )


def evaluator_cache_dir(spec: RunSpec) -> Path:
    """Where reference classifiers and references are cached for this run."""
    return Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()


def _die_with_parent() -> bool:
    """Ask Linux to SIGKILL this worker when its parent dies, so no run trains on, orphaned,
    after its driver was killed. False when the parent is already gone (it died while this
    process imported its libraries, before the request could take effect)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the executor still kills the process group it started
    parent = os.environ.get(PARENT_PID_ENV)
    return not parent or os.getppid() == int(parent)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.worker SPEC_JSON ROW_JSON", file=sys.stderr)
        return 2
    if not _die_with_parent():
        print("bench.worker: the process that started this run is gone; stopping", file=sys.stderr)
        return EXIT_ORPHANED
    spec_path, row_path = Path(argv[0]), Path(argv[1])
    row = execute(RunSpec.from_dict(json.loads(spec_path.read_text())))
    write_row_file(row_path, row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
