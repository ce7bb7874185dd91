"""A run's row, assembled once from typed parts.

The worker collects what a run learns in a `RunRecord` of typed parts as it goes (what was
counted about the model, the timing measurement, the evaluations, the implementation's
RunFacts) and `assemble_row` turns them, with the run's identity, outcome and provenance,
into the flat, versioned Row in one place. The executors build the row of a run that could
not report itself (`synthetic_row`) from the same identity. Nothing here imports a
framework, so the driver can build rows too.
"""

from __future__ import annotations

import dataclasses
import os
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.config import RunSpec
from bench.provenance import cpu_name, hostname, package_versions, utc_now
from bench.results import RUN_IDENTITY_FIELDS, Row
from implementations.registry import FRAMEWORK_PACKAGES

if TYPE_CHECKING:  # the evaluation imports torch (its metrics); the driver must not
    from bench.evaluation import Evaluation
    from bench.references import Reference
    from bench.timing import TrainingMeasurement
    from implementations.api import GAN, RunFacts


@dataclass(frozen=True)
class Provenance:
    """Where and when a run ran, and with which library versions."""

    versions: dict[str, str]
    hostname: str
    started_at: str  # ISO 8601, UTC
    cuda_visible_devices: str | None  # the GPU(s) the worker was pinned to

    @classmethod
    def here(cls, framework: str) -> Provenance:
        return cls(
            versions=package_versions(FRAMEWORK_PACKAGES.get(framework, ())),
            hostname=hostname(),
            started_at=utc_now(),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )


@dataclass(frozen=True)
class Outcome:
    """How a run ended: a status of results.STATUSES and, unless ok, what went wrong."""

    status: str
    error: str | None = None  # one line
    traceback: str | None = None
    diverged_step: int | None = None

    @classmethod
    def of_error(
        cls, status: str, error: BaseException, prefix: str = "", diverged_step: int | None = None
    ) -> Outcome:
        """A one-line error (after `prefix`) and the full traceback of an exception."""
        first_line = (str(error).strip().splitlines() or [""])[0]
        return cls(
            status=status,
            error=f"{prefix}{type(error).__name__}: {first_line}",
            traceback="".join(traceback.format_exception(error)),
            diverged_step=diverged_step,
        )


@dataclass(frozen=True)
class ModelFacts:
    """What is counted about the model and its data before training: exact, never timed."""

    params_generator: int
    params_discriminator: int
    flops_per_step: int
    fid_real_images: int  # real (test split) images the FID statistics use
    classifier_test_accuracy: float
    reference_gflop_per_s: float  # the fixed float32 matmul, timed in this process
    # semi-supervised runs: how many labels, and which training images carry them
    ssl_labels: int | None = None
    ssl_labelled_indices: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Utilisation:
    """Achieved model GFLOP/s, its share of the measured matmul peak, relative throughput."""

    achieved_gflop_per_s: float
    peak_gflop_per_s: float
    mfu: float | None  # None when the probe ran slower than the model: no peak here
    images_per_s_relative: float


@dataclass
class RunRecord:
    """The typed parts a run has produced so far; kept by the worker so a failure loses none."""

    label_use: str | None = None
    gan: GAN | None = None  # asked for its RunFacts when the row is assembled
    model: ModelFacts | None = None
    measurement: TrainingMeasurement | None = None
    utilisation: Utilisation | None = None
    evaluations: list[Evaluation] = field(default_factory=list)
    eval_wall_s: float = 0.0
    ssl_baseline_accuracy: float | None = None
    references: tuple[Reference, Reference] | None = None  # (real, noise)
    notes: dict[str, str] = field(default_factory=dict)  # why a non-quality field is null


def run_identity(spec: RunSpec) -> dict[str, Any]:
    """results.RUN_IDENTITY_FIELDS, read off the RunSpec and its settings."""
    values = {
        **dataclasses.asdict(spec.settings),
        **{f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)},
        "run_id": spec.run_id,
        "deterministic": spec.settings.uses_deterministic_kernels,
    }
    return {name: values[name] for name in RUN_IDENTITY_FIELDS}


def synthetic_row(spec: RunSpec, status: str, error: str) -> Row:
    """The row of a run that could not report itself (timeout, kill, no row written)."""
    return assemble_row(spec, Outcome(status, error=error), Provenance.here(spec.framework))


def assemble_row(
    spec: RunSpec,
    outcome: Outcome,
    provenance: Provenance,
    record: RunRecord | None = None,
    facts: RunFacts | None = None,
    wall_s: float | None = None,
    peak_rss_mb: float | None = None,
) -> Row:
    """The row, from every part the run produced; parts it never reached stay null."""
    record = record or RunRecord()
    parts: dict[str, Any] = {
        **run_identity(spec),
        **dataclasses.asdict(outcome),
        **dataclasses.asdict(provenance),
        "label_use": record.label_use,
        "wall_s": wall_s,
    }
    if facts is not None:
        parts.update(
            device_name=cpu_name() if spec.settings.device == "cpu" else facts.device_name,
            compile_detail=facts.compile_detail,
            optimizer_detail=facts.optimizer_detail,
            determinism_settings=dict(facts.determinism_settings),
        )
    if record.model is not None:
        parts.update(dataclasses.asdict(record.model))
    if record.measurement is not None:
        parts.update(measurement_fields(record.measurement))
    if record.utilisation is not None:
        parts.update(dataclasses.asdict(record.utilisation))
    parts.update(evaluation_fields(record))
    if facts is not None and facts.peak_mem_mb is not None:
        parts.update(peak_mem_mb=facts.peak_mem_mb, peak_mem_kind="device_allocator")
    elif peak_rss_mb is not None:
        parts.update(peak_mem_mb=peak_rss_mb, peak_mem_kind="process_rss")
    return Row(**parts)


def measurement_fields(measurement: TrainingMeasurement) -> dict[str, Any]:
    """The timing measurement's row fields."""
    return {
        "images_per_s": measurement.images_per_s,
        "images_per_s_windows": measurement.images_per_s_windows,
        "step_ms_p50": measurement.step_ms_percentile(50),
        "step_ms_p90": measurement.step_ms_percentile(90),
        "compile_s": measurement.compile_s,
        "warmup_steps": measurement.warmup_steps,
        "timed_steps": measurement.timed_steps,
        "steps_reached": measurement.steps_done,
        "train_wall_s": measurement.train_wall_s,
        "history": measurement.history,
        "final_losses": measurement.final_losses,
    }


def evaluation_fields(record: RunRecord) -> dict[str, Any]:
    """The last evaluation's metrics, notes and grid, the history, and ssgan's baseline."""
    final: dict[str, Any] = {"ssl_baseline_accuracy": record.ssl_baseline_accuracy}
    if record.references is not None:
        real, noise = record.references
        final.update(reference_real=real.row_values(), reference_noise=noise.row_values())
    if not record.evaluations:
        return {
            "eval_wall_s": record.eval_wall_s or None,
            "metric_notes": dict(record.notes),
            **final,
        }
    last = record.evaluations[-1]
    row_fields = set(Row.__dataclass_fields__)
    return {
        **{k: v for k, v in last.values.items() if k in row_fields},
        "metric_notes": {**last.notes, **record.notes},
        "fid_inception_reason": last.notes.get("fid_inception"),
        "eval_step": last.step,
        "sample_grid_png": last.sample_grid_png,
        "eval_history": [e.history_entry() for e in record.evaluations],
        "eval_wall_s": record.eval_wall_s,
        **final,
    }
