"""One RunSpec in its own process -> one result row.

    python -m bench.worker SPEC_JSON ROW_JSON

The worker builds the implementation through the registry (so it imports
only the framework it runs), trains it under bench.timing, and writes its
row. Anything that goes wrong inside the run becomes a row with a status
and an error, never a traceback that kills the suite. What the worker cannot
report itself (a kill, a hang) the executor turns into a row.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from tqdm import tqdm

from bench.config import RunSpec
from bench.datasets import (
    labelled_subset,
    load_dataset,
    semi_supervised_batches,
    training_batches,
)
from bench.provenance import cpu_name, hostname, package_versions, utc_now
from bench.results import Row, write_row_file
from bench.timing import DivergedError, TrainingMeasurement, measure_training
from implementations import registry
from implementations.api import BuildOptions
from implementations.spec import make_spec

THREAD_ENV_VARS = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)


def thread_environment(threads: int) -> dict[str, str]:
    """Environment that pins both frameworks to `threads` CPU threads (read at import)."""
    env = dict.fromkeys(THREAD_ENV_VARS, str(threads))
    env["TF_NUM_INTEROP_THREADS"] = "1"  # torch runs ops one after another too
    return env


def execute(spec: RunSpec) -> Row:
    """Run one spec and return its row (complete in every outcome the worker survives)."""
    os.environ.update(thread_environment(spec.threads))
    started = time.perf_counter()
    fields = identity_fields(spec)
    try:
        _train(spec, fields)
        fields["status"] = "ok"
    except DivergedError as error:
        fields.update(_measurement_fields(error.measurement))
        fields.update(_error_fields(error), status="diverged", diverged_step=error.step)
    except Exception as error:
        fields.update(_error_fields(error), status="failed")
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
        "status": "failed",  # until training returns
        "versions": package_versions(registry.FRAMEWORK_PACKAGES.get(spec.framework, ())),
        "hostname": hostname(),
        "started_at": utc_now(),
    }


def _train(spec: RunSpec, fields: dict[str, Any]) -> None:
    """Data, model, training loop: the run proper. Fills `fields` as it goes; raises on failure."""
    dataset = load_dataset(spec.dataset, Path(spec.data_dir) if spec.data_dir else None)
    gan_spec = make_spec(spec.variant, dataset.image_shape, dataset.num_classes, spec.spec_preset)
    options = BuildOptions(
        seed=spec.seed, device=spec.device, compile=spec.compile, precision=spec.precision
    )
    gan = registry.build(spec.framework, spec.variant, gan_spec, options)
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
        batches = semi_supervised_batches(
            dataset.train_images, dataset.train_labels, labelled, spec.batch_size, spec.seed
        )
    else:
        batches = training_batches(
            dataset.train_images, dataset.train_labels, spec.batch_size, seed=spec.seed
        )
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
        )
    fields.update(_measurement_fields(measurement))
    device_peak = gan.device_peak_mem_mb()
    if device_peak is not None:
        fields.update(peak_mem_mb=device_peak, peak_mem_kind="device_allocator")


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


def _process_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker if the driver dies, so no run trains orphaned."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except OSError:
        pass  # not Linux: the executor still kills the process group it started


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.worker SPEC_JSON ROW_JSON", file=sys.stderr)
        return 2
    _die_with_parent()
    spec_path, row_path = Path(argv[0]), Path(argv[1])
    row = execute(RunSpec.from_dict(json.loads(spec_path.read_text())))
    write_row_file(row_path, row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
