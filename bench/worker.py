"""One RunSpec in its own process -> one result row.

    python -m bench.worker SPEC_JSON ROW_JSON

The worker builds the implementation through the registry (so it imports
only the framework it runs), trains it under bench.timing, and writes its
row. Anything that goes wrong inside the run becomes a row with a status
and an error, never a traceback that kills the suite. What the worker cannot
report itself (a kill, a hang) the executor turns into a row.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import json
import os
import resource
import signal
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Metrics use torch; torch._dynamo must be loaded before tensorflow or it segfaults later.
import torch._dynamo  # noqa: F401
from tqdm import tqdm

from bench.config import RunSpec, default_cache_dir
from bench.datasets import (
    Dataset,
    labelled_subset,
    load_dataset,
    semi_supervised_batches,
    training_batches,
)
from bench.evaluation import (
    Evaluation,
    EvaluationSettings,
    Evaluator,
    NonFiniteSamplesError,
    evaluation_windows,
)
from bench.flops import train_step_flops
from bench.provenance import cpu_name, hostname, package_versions, utc_now
from bench.reference_kernel import peak_gflop_per_s, reference_gflop_per_s
from bench.results import Row, write_row_file
from bench.timing import Batch, DivergedError, TrainingMeasurement, measure_training
from bench.worker_env import PARENT_PID_ENV, thread_environment
from implementations import registry
from implementations.api import GAN, BuildOptions, UnsupportedOperationError
from implementations.spec import GanSpec, make_spec
from metrics.semisup import classification_accuracy

BASELINE_LOSS = "semi_supervised_baseline"
EXIT_ORPHANED = 3  # the executor that started this worker (PARENT_PID_ENV) was gone
# How frameworks name a failed allocation: torch.OutOfMemoryError (CPU and CUDA), TensorFlow's
# ResourceExhaustedError ("OOM when allocating tensor"), and the messages of older paths.
OOM_ERROR_NAMES = frozenset({"OutOfMemoryError", "ResourceExhaustedError"})
OOM_MESSAGES = (
    "can't allocate memory",
    "not enough memory",
    "out of memory",
    "oom when allocating",
    "bad_alloc",
)


def execute(spec: RunSpec) -> Row:
    """Run one spec and return its row (complete in every outcome the worker survives)."""
    os.environ.update(thread_environment(spec.threads))
    started = time.perf_counter()
    fields = identity_fields(spec)
    progress = RunProgress()
    try:
        _train(spec, fields, progress)
        fields["status"] = "ok"
    except DivergedError as error:
        fields.update(_measurement_fields(error.measurement))
        fields.update(_error_fields(error), status="diverged", diverged_step=error.step)
    except NonFiniteSamplesError as error:
        if progress.measurement is not None:
            fields.update(_measurement_fields(progress.measurement))
        fields.update(_error_fields(error), status="diverged", diverged_step=error.step)
    except UnsupportedOperationError as error:
        fields.update(error=f"unsupported: {error}", status="unsupported")
    except Exception as error:
        if not is_out_of_memory(error):
            fields.update(_error_fields(error), status="failed")
        else:
            if progress.measurement is not None:
                fields.update(_measurement_fields(progress.measurement))
            fields.update(_oom_fields(error, spec), status="oom")
    fields.update(progress.evaluation_fields())  # what was evaluated before any failure
    fields["wall_s"] = time.perf_counter() - started
    if fields.get("peak_mem_mb") is None:
        fields.update(peak_mem_mb=_process_peak_rss_mb(), peak_mem_kind="process_rss")
    return Row(**fields)


def identity_fields(spec: RunSpec) -> dict[str, Any]:
    """The row fields that say which run this is and where it ran, status "failed" until done."""
    return {
        "run_id": spec.run_id,
        "suite": spec.suite,
        "variant": spec.variant,
        "framework": spec.framework,
        "dataset": spec.dataset,
        "seed": spec.seed,
        "batch_size": spec.batch_size,
        "steps": spec.steps,
        "device": spec.device,
        "precision": spec.precision,
        "compile": spec.compile,
        "spec_preset": spec.spec_preset,
        "threads": spec.threads,
        "deterministic": spec.uses_deterministic_kernels,
        "max_mem_mb": spec.max_mem_mb,
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "status": "failed",  # until training returns
        "versions": package_versions(registry.FRAMEWORK_PACKAGES.get(spec.framework, ())),
        "hostname": hostname(),
        "started_at": utc_now(),
    }


@dataclass
class RunProgress:
    """What a run has measured so far; kept by execute() so a failure loses none of it."""

    measurement: TrainingMeasurement | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    eval_wall_s: float = 0.0
    final: dict[str, Any] = field(default_factory=dict)  # fields known only at the end
    notes: dict[str, str] = field(default_factory=dict)  # why a non-quality field is null

    def evaluation_fields(self) -> dict[str, Any]:
        """Row fields: the last evaluation's metrics, notes and grid, and the history."""
        if not self.evaluations:
            return {
                "eval_wall_s": self.eval_wall_s or None,
                "metric_notes": dict(self.notes),
                **self.final,
            }
        last = self.evaluations[-1]
        row_fields = set(Row.__dataclass_fields__)
        return {
            **{k: v for k, v in last.values.items() if k in row_fields},
            "metric_notes": {**last.notes, **self.notes},
            "fid_inception_reason": last.notes.get("fid_inception"),
            "eval_step": last.step,
            "sample_grid_png": last.sample_grid_png,
            "eval_history": [e.history_entry() for e in self.evaluations],
            "eval_wall_s": self.eval_wall_s,
            **self.final,
        }


def _train(spec: RunSpec, fields: dict[str, Any], progress: RunProgress) -> None:
    """Data, model, training loop, evaluations: the run proper. Raises on failure."""
    dataset = load_dataset(spec.dataset, Path(spec.data_dir) if spec.data_dir else None)
    gan_spec = make_spec(spec.variant, dataset.image_shape, dataset.num_classes, spec.spec_preset)
    options = BuildOptions(
        seed=spec.seed,
        device=spec.device,
        compile=spec.compile,
        precision=spec.precision,
        tf32=spec.tf32,
        deterministic=spec.uses_deterministic_kernels,
    )
    fields["tf32"] = spec.tf32
    gan = registry.build(spec.framework, spec.variant, gan_spec, options)  # may be unsupported
    fields["determinism_settings"] = gan.describe_determinism()
    started = time.perf_counter()
    evaluator = Evaluator(dataset, gan_spec, evaluation_settings(spec))
    progress.eval_wall_s += time.perf_counter() - started
    # The framework, the model and the reference classifier are loaded: the cap starts here.
    with memory_cap(spec.max_mem_mb):
        _measure(spec, fields, progress, dataset, gan_spec, gan, options, evaluator)


def _measure(
    spec: RunSpec,
    fields: dict[str, Any],
    progress: RunProgress,
    dataset: Dataset,
    gan_spec: GanSpec,
    gan: GAN,
    options: BuildOptions,
    evaluator: Evaluator,
) -> None:
    """FLOPs, the timed training with its evaluations, ssgan's baseline: what the cap covers."""
    fields.update(
        eval_samples=spec.eval_samples,
        fid_real_images=len(dataset.test_images),
        classifier_test_accuracy=evaluator.classifier.test_accuracy,
        flops_per_step=train_step_flops(gan_spec, spec.batch_size, spec.seed),
    )
    params = gan.num_params()
    fields.update(
        device_name=cpu_name() if spec.device == "cpu" else gan.device_name(),
        compile_detail=gan.describe_compile(),
        params_generator=params["generator"],
        params_discriminator=params["discriminator"],
    )
    if gan_spec.loss == "semi_supervised":
        # The labelled few are drawn once, recorded, and the only labels training sees.
        labelled = labelled_subset(dataset.train_labels, spec.ssl_labels, seed=spec.seed)
        fields.update(ssl_labels=spec.ssl_labels, ssl_labelled_indices=labelled.tolist())
    batches = _batches(spec, dataset, gan_spec.loss)
    reference = reference_gflop_per_s(spec.device)
    fields["reference_gflop_per_s"] = reference
    eval_windows = evaluation_windows(spec.timing_windows, spec.eval_points)

    def evaluate(window: int, measurement: TrainingMeasurement) -> None:
        progress.measurement = measurement
        if window in eval_windows:
            started = time.perf_counter()
            progress.evaluations.append(
                evaluator.evaluate(gan, measurement.steps_done, measurement.train_wall_s)
            )
            progress.eval_wall_s += time.perf_counter() - started

    label = f"{spec.variant}/{spec.framework} s{spec.seed} b{spec.batch_size}"
    with tqdm(total=spec.steps, desc=label, unit="step", file=sys.stderr) as bar:

        def on_progress(steps_done: int, losses: dict[str, float]) -> None:
            bar.update(steps_done - bar.n)
            bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=True)

        measurement = measure_training(
            gan,
            batches,
            spec.batch_size,
            spec.steps,
            spec.warmup_steps,
            spec.timing_windows,
            on_progress,
            evaluate,
        )
    fields.update(_measurement_fields(measurement))
    if measurement.images_per_s is not None:
        fields.update(_utilisation_fields(spec, measurement.images_per_s, fields["flops_per_step"]))
        if fields["mfu"] is None:
            progress.notes["mfu"] = (
                f"the {spec.precision} matmul probe ({fields['peak_gflop_per_s']:.2f} GFLOP/s) "
                f"ran slower than the model itself ({fields['achieved_gflop_per_s']:.2f} "
                "GFLOP/s), so it is no peak on this device and no MFU is given"
            )
        fields["images_per_s_relative"] = measurement.images_per_s / reference
    device_peak = gan.device_peak_mem_mb()
    if device_peak is not None:
        fields.update(peak_mem_mb=device_peak, peak_mem_kind="device_allocator")
    if gan_spec.loss == "semi_supervised":
        started = time.perf_counter()
        progress.final["ssl_baseline_accuracy"] = _supervised_baseline_accuracy(
            spec, dataset, gan_spec, options
        )
        progress.eval_wall_s += time.perf_counter() - started


def _utilisation_fields(spec: RunSpec, images_per_s: float, flops_per_step: int) -> dict:
    """Achieved model GFLOP/s and its share of the matmul peak measured here (MFU)."""
    achieved = flops_per_step * images_per_s / spec.batch_size / 1e9
    peak = peak_gflop_per_s(spec.device, spec.precision, spec.tf32)
    fields = {"achieved_gflop_per_s": achieved, "peak_gflop_per_s": peak, "mfu": achieved / peak}
    if achieved > peak:
        # Seen on CPUs: without bf16 matmul units torch's bf16 matmul is emulated, and even in
        # fp32 TensorFlow's convolutions beat a 1024^2 torch matmul on 2 threads. Either way
        # the probe is not a peak, and no MFU is honest.
        fields["mfu"] = None
    return fields


def _batches(spec: RunSpec, dataset: Dataset, loss: str) -> Iterator[Batch]:
    """Training batches: half labelled, half unlabelled for semi-supervised losses."""
    if loss.startswith("semi_supervised"):
        labelled = labelled_subset(dataset.train_labels, spec.ssl_labels, seed=spec.seed)
        return semi_supervised_batches(
            dataset.train_images, dataset.train_labels, labelled, spec.batch_size, spec.seed
        )
    return training_batches(
        dataset.train_images, dataset.train_labels, spec.batch_size, seed=spec.seed
    )


def _supervised_baseline_accuracy(
    spec: RunSpec, dataset: Dataset, gan_spec: GanSpec, options: BuildOptions
) -> float:
    """ssgan's D trained on the same N labels alone, same batches and steps: its test accuracy."""
    baseline_spec = dataclasses.replace(gan_spec, loss=BASELINE_LOSS)
    baseline = registry.build(spec.framework, spec.variant, baseline_spec, options)
    measure_training(
        baseline,
        _batches(spec, dataset, BASELINE_LOSS),
        spec.batch_size,
        spec.steps,
        spec.warmup_steps,
        spec.timing_windows,
    )
    return classification_accuracy(baseline.classify(dataset.test_images), dataset.test_labels)


def evaluation_settings(spec: RunSpec) -> EvaluationSettings:
    cache_dir = Path(spec.cache_dir) if spec.cache_dir else default_cache_dir()
    return EvaluationSettings(
        samples=spec.eval_samples,
        inception=spec.inception_fid,
        inception_weights=Path(spec.fid_weights) if spec.fid_weights else None,
        probe_labels=spec.ssl_labels,
        seed=spec.seed,
        device=spec.device,
        cache_dir=cache_dir,
    )


def _measurement_fields(measurement: TrainingMeasurement) -> dict[str, Any]:
    return {
        "images_per_s": measurement.images_per_s,
        "images_per_s_windows": measurement.images_per_s_windows,
        "step_ms_p50": measurement.step_ms_percentile(50),
        "step_ms_p90": measurement.step_ms_percentile(90),
        "compile_s": measurement.compile_s,
        "warmup_steps": measurement.warmup_steps,
        "timed_steps": measurement.timed_steps,
        "train_wall_s": measurement.train_wall_s,
        "history": measurement.history,
        "final_losses": measurement.final_losses,
    }


def _error_fields(error: Exception) -> dict[str, str]:
    """A one-line error and the full traceback for an exception raised by a run."""
    first_line = (str(error).strip().splitlines() or [""])[0]
    return {
        "error": f"{type(error).__name__}: {first_line}",
        "traceback": "".join(traceback.format_exception(error)),
    }


def _oom_fields(error: BaseException, spec: RunSpec) -> dict[str, str]:
    """The one-line error of a failed allocation, naming the batch size that needed it."""
    cap = f", max_mem_mb = {spec.max_mem_mb}" if spec.max_mem_mb is not None else ""
    fields = _error_fields(error)
    fields["error"] = f"out of memory at batch size {spec.batch_size}{cap}: {fields['error']}"
    return fields


def is_out_of_memory(error: BaseException) -> bool:
    """Whether an exception (or one it was raised from) is a failed allocation.

    Judged by class name and message, so neither framework is imported to ask.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, MemoryError):
            return True
        if any(cls.__name__ in OOM_ERROR_NAMES for cls in type(current).__mro__):
            return True
        message = str(current).lower()
        if any(marker in message for marker in OOM_MESSAGES):
            return True
        current = current.__cause__ or current.__context__
    return False


@contextlib.contextmanager
def memory_cap(max_mem_mb: int | None) -> Iterator[None]:
    """Keep the run's memory under max_mem_mb for the block (RLIMIT_AS); None: no cap.

    RLIMIT_AS limits address space, not resident memory, and torch and TensorFlow reserve
    gigabytes of address space they never touch as they are imported. So the worker sets
    the limit itself, after the framework is imported, the model built and the reference
    classifier loaded: the address space may grow by max_mem_mb minus the resident size at
    that point (none when that is already over the cap). An allocation past it fails
    (MemoryError, torch's OutOfMemoryError, TensorFlow's ResourceExhaustedError) and the
    row is "oom". Only the soft limit is lowered, and it is restored when the block ends.
    Freed memory the process still maps is reused without counting. Linux only.
    """
    if max_mem_mb is None:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    status = _proc_status_kib(("VmSize", "VmRSS"))
    headroom_kib = max(0, max_mem_mb * 1024 - status["VmRSS"])
    limit = (status["VmSize"] + headroom_kib) * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _proc_status_kib(names: tuple[str, ...]) -> dict[str, int]:
    """Fields of /proc/self/status given in kB (VmSize: address space, VmRSS: resident)."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in names:
            values[key] = int(rest.split()[0])
    return values


def _process_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


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
