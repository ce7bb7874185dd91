"""The results table: one JSON file per run, written atomically, read back as rows.

A results folder holds `rows/<run_id>.json`. A row is written to a hidden
temporary file and renamed into place, so a reader never sees half a row,
and an interrupted suite leaves only whole rows behind. Rows carry
`schema_version`; a reader refuses any other version with a message.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.atomic_file import write_text_atomically

SCHEMA_VERSION = 1
# unsupported: a combination the framework cannot do (e.g. CUDA graphs in TensorFlow)
# oom: an allocation failed (the suite's max_mem_mb on a CPU, the GPU's memory on a GPU)
STATUSES: tuple[str, ...] = (
    "ok",
    "failed",
    "diverged",
    "killed",
    "timeout",
    "unsupported",
    "oom",
)
ROWS_DIR = "rows"
# Which run a row is: filled from its RunSpec and RunSettings before the run starts, so a
# row the worker could not write itself (timeout, kill) has them too (bench.record).
RUN_IDENTITY_FIELDS: tuple[str, ...] = (
    "run_id",
    "suite",
    "variant",
    "framework",
    "dataset",
    "seed",
    "batch_size",
    "steps",
    "device",
    "precision",
    "compile",
    "spec_preset",
    "threads",
    "deterministic",
    "max_mem_mb",
    "tf32",
    "eval_samples",
    "train_budget_s",
)
# What makes two rows the same implementation in the report: everything but the seed.
IMPLEMENTATION_FIELDS: tuple[str, ...] = (
    "variant",
    "framework",
    "dataset",
    "device_name",
    "precision",
    "compile",
    "batch_size",
    "steps",
    "spec_preset",
    "ssl_labels",
    "train_budget_s",
)
# Rows written before `label_use` existed: the built-in variants that used labels then.
LABEL_USE_BEFORE_FIELD: dict[str, str] = {"conditional": "conditional", "ssgan": "semi_supervised"}


class ResultsError(ValueError):
    """A results file or folder that cannot be read as rows."""


@dataclass
class Row:
    """One run: identity, speed, losses over training, status and provenance."""

    # identity
    run_id: str
    suite: str
    variant: str
    framework: str
    dataset: str
    seed: int
    batch_size: int
    steps: int
    device: str
    precision: str
    compile: str
    spec_preset: str
    status: str  # one of STATUSES
    # how the variant uses labels (implementations.spec.LabelUse): "none", "conditional",
    # "semi_supervised"; what the report and compare read instead of a variant's name
    label_use: str | None = None
    error: str | None = None  # one line: what went wrong, when status != "ok"
    traceback: str | None = None
    diverged_step: int | None = None  # first step with a non-finite loss
    device_name: str | None = None
    compile_detail: str | None = None  # what "compile" meant in this framework
    optimizer_detail: str | None = None  # which Adam implementation ran (fused, for-loop...)
    threads: int | None = None
    cuda_visible_devices: str | None = None  # the GPU(s) the worker was pinned to
    # semi-supervised runs: how many labels, and which training images carried them
    ssl_labels: int | None = None
    ssl_labelled_indices: list[int] = field(default_factory=list)
    # speed (bench.timing)
    images_per_s: float | None = None  # median over timing windows
    images_per_s_windows: list[float] = field(default_factory=list)
    step_ms_p50: float | None = None  # over windows, each window's mean step time
    step_ms_p90: float | None = None
    compile_s: float | None = None  # wall time of the warm-up steps (tracing, compiling)
    warmup_steps: int | None = None
    timed_steps: int | None = None
    # the suite's training-time budget, seconds (None: `steps` ended the run), and the steps
    # the run reached (warm-up included): with a budget, `steps` is the suite's, unused
    train_budget_s: float | None = None
    steps_reached: int | None = None
    peak_mem_mb: float | None = None
    peak_mem_kind: str | None = None  # "process_rss" on CPU, "device_allocator" on GPU
    params_generator: int | None = None
    params_discriminator: int | None = None
    train_wall_s: float | None = None  # warm-up + timed training, no evaluation
    # machine-independent speed: a fixed float32 matmul timed in the same process, and the
    # run's throughput divided by it (compare uses it across machines and on noisy CPUs)
    reference_gflop_per_s: float | None = None
    images_per_s_relative: float | None = None  # images_per_s / reference_gflop_per_s
    flops_per_step: int | None = None  # counted once per model (torch FlopCounterMode)
    # model FLOPs utilisation: achieved = flops_per_step x steps/s; peak = a large matmul in
    # the run's precision on its device, measured in the same process
    achieved_gflop_per_s: float | None = None
    peak_gflop_per_s: float | None = None
    mfu: float | None = None  # achieved / peak
    tf32: bool | None = None  # TensorFloat-32 allowed for fp32 matmuls/convolutions
    # deterministic kernels only (the suite's `deterministic`), and the framework switches
    # as the run set them, e.g. {"torch.use_deterministic_algorithms": "True"}
    deterministic: bool | None = None
    determinism_settings: dict[str, str] = field(default_factory=dict)
    max_mem_mb: int | None = None  # the suite's memory cap (None: no cap); over it: "oom"
    # losses over training: one entry per timing window (means), plus the final step's
    history: list[dict[str, float]] = field(default_factory=list)
    final_losses: dict[str, float] = field(default_factory=dict)
    # quality (bench.evaluation) at the last evaluation point; null with a reason when a
    # metric does not apply or could not be computed, never a made-up number
    eval_step: int | None = None  # training step of the last evaluation
    eval_samples: int | None = None  # generated images per evaluation
    eval_wall_s: float | None = None  # total time spent evaluating (not in train_wall_s)
    parzen_ll: float | None = None  # nats, mean over the test split, images in [0, 1]
    parzen_se: float | None = None  # standard error of parzen_ll
    parzen_sigma: float | None = None  # bandwidth chosen on the validation split
    parzen_samples: int | None = None  # kernel centres (generated images)
    fid_classifier: float | None = None  # FID in the reference classifier's 128-d features
    kid_classifier: float | None = None  # KID (unbiased MMD^2, cubic kernel), same features
    kid_classifier_std: float | None = None  # std of KID over subsets
    fid_inception: float | None = None  # FID in InceptionV3 pool3 (pytorch-fid weights)
    kid_inception: float | None = None
    kid_inception_std: float | None = None
    fid_inception_reason: str | None = None  # why fid_inception is null
    fid_real_images: int | None = None  # real (test split) images the FID statistics used
    classifier_test_accuracy: float | None = None  # how far the reference classifier is right
    cond_accuracy: float | None = None  # conditional: samples read as the label asked for
    ssl_accuracy: float | None = None  # ssgan: its classifier's test accuracy
    ssl_baseline_accuracy: float | None = None  # the same D trained on the N labels alone
    probe_accuracy: float | None = None  # other variants: linear probe on D's features
    metric_notes: dict[str, str] = field(default_factory=dict)  # metric -> why it is null
    # base64 PNG of up to 100 samples from the last evaluation (conditional: row r = class r)
    sample_grid_png: str | None = None
    # every evaluation point: {"step", "train_s", metric: value, ...}, for quality-vs-time
    eval_history: list[dict[str, Any]] = field(default_factory=list)
    # what good and bad look like in the same metrics (bench/references.py): training images
    # and uniform noise scored as if generated, metric name -> value
    reference_real: dict[str, float | None] = field(default_factory=dict)
    reference_noise: dict[str, float | None] = field(default_factory=dict)
    # provenance
    versions: dict[str, str] = field(default_factory=dict)
    git_commit: str | None = None
    hostname: str | None = None
    started_at: str | None = None  # ISO 8601, UTC
    # where it ran (bench.executors): the engine, its node, how often the run was started
    engine: str | None = None  # "local", "ray" or "slurm"
    node: str | None = None  # Ray node id, Slurm node name, or the host name (local)
    attempts: int | None = None  # times the run was started; > 1: a node or worker was lost
    job_id: str | None = None  # the engine's id: Slurm "ARRAYID_INDEX", Ray task id
    wall_s: float | None = None  # whole worker: imports, data, build, training
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ResultsError(f"row status {self.status!r}; allowed: {', '.join(STATUSES)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "row") -> Row:
        version = values.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ResultsError(
                f"{source}: schema_version {version!r}; this ganbench reads version "
                f"{SCHEMA_VERSION} (rerun the suite with this version to regenerate it)"
            )
        if "label_use" not in values:  # written before the field existed
            label_use = LABEL_USE_BEFORE_FIELD.get(str(values.get("variant")), "none")
            values = {**values, "label_use": label_use}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ResultsError(f"{source}: unknown row fields {unknown}")
        try:
            return cls(**values)
        except TypeError as error:  # a required field missing
            raise ResultsError(f"{source}: {error}") from None


@dataclass(frozen=True, order=True)
class Identity:
    """What makes two runs the same benchmark in compare; seeds are pooled within one."""

    variant: str
    framework: str
    dataset: str
    device: str  # kind: cpu or cuda; the device *name* decides the throughput figure
    precision: str
    compile: str
    batch_size: int

    @classmethod
    def of(cls, row: Row) -> Identity:
        return cls(*(getattr(row, f.name) for f in dataclasses.fields(cls)))

    def __str__(self) -> str:
        return (
            f"{self.variant}/{self.framework} {self.dataset} {self.device} {self.precision} "
            f"{self.compile} b{self.batch_size}"
        )


def row_path(results_dir: Path, run_id: str) -> Path:
    """RESULTS_DIR/rows/RUN_ID.json; a run_id that is not a plain file name is refused, so a
    row can never be written outside its results folder."""
    if not SAFE_RUN_ID.fullmatch(run_id):
        raise ResultsError(
            f"run_id {run_id!r} is not a plain file name (letters, digits, '_', '-', '.', '+'; "
            "no leading '.')"
        )
    return Path(results_dir) / ROWS_DIR / f"{run_id}.json"


SAFE_RUN_ID = re.compile(r"[A-Za-z0-9_+\-][A-Za-z0-9_.+\-]*")


def write_row(results_dir: Path, row: Row) -> Path:
    """Write a row into a results folder, atomically."""
    return write_row_file(row_path(results_dir, row.run_id), row)


def write_row_file(path: Path, row: Row) -> Path:
    """Write a row atomically: a hidden temporary file in the same folder, then rename."""
    text = json.dumps(_json_safe(row.to_dict()), indent=1, allow_nan=False)
    return write_text_atomically(Path(path), text + "\n")


def read_row(path: Path) -> Row:
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ResultsError(f"{path}: not a readable row ({error})") from None
    if not isinstance(values, dict):
        raise ResultsError(f"{path}: a row must be a JSON object")
    return Row.from_dict(values, source=str(path))


def read_rows(results_dir: Path) -> list[Row]:
    """Every row in a results folder, sorted by run_id; temporary files are never read.

    Strict: the first unreadable file (truncated, not JSON, another schema_version) is a
    ResultsError naming it. `read_rows_skipping` is the forgiving reader.
    """
    return [read_row(p) for p in row_files(results_dir)]


def read_rows_skipping(results_dir: Path) -> tuple[list[Row], list[str]]:
    """The readable rows of a results folder, and one line per file that was skipped and why."""
    rows, skipped = [], []
    for path in row_files(results_dir):
        try:
            rows.append(read_row(path))
        except ResultsError as error:
            skipped.append(str(error))
    return rows, skipped


def row_files(results_dir: Path) -> list[Path]:
    """rows/*.json, sorted; the hidden temporary files of atomic writes are left out."""
    folder = Path(results_dir) / ROWS_DIR
    if not folder.is_dir():
        return []
    return sorted(folder.glob("[!.]*.json"))


def rows_frame(rows: list[Row]) -> Any:
    """The rows as a pandas DataFrame, one line per run (pandas imported on demand)."""
    import pandas as pd

    return pd.DataFrame([row.to_dict() for row in rows])


def _json_safe(value: Any) -> Any:
    """NaN and inf become null: JSON has no such numbers, and a row must stay readable."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value
