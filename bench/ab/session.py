"""One `bench ab` session: both checkouts, then every implementation measured A against B.

The driver loads the data once (its own bench.datasets) and writes it to one file that
both sides read, so both train on the same arrays with the same seed; settings (preset,
batch size, threads, warm-up) come from one suite. Each implementation gets one process
per side (bench.ab.side) for its exact figures and, with --quality, one evaluation per
side (bench.ab.quality); its interleaved timing (bench.ab.measure) starts a fresh pair
of processes for every session.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.ab.checkout import Checkout, checkouts
from bench.ab.measure import Measurement, MeasureSettings, PairOpener, measure_pair
from bench.ab.quality import QualityComparison, compare_quality
from bench.ab.side import (
    PROTOCOL,
    UNSUPPORTED,
    BuildFacts,
    BuildRequest,
    SideFailedError,
    SideProcess,
)
from bench.ab.verdict import ExactCheck, Verdict, final_verdict
from bench.catalogue import FLOPS_PER_STEP, PARAMS_DISCRIMINATOR, PARAMS_GENERATOR
from bench.config import default_cache_dir
from bench.datasets import Dataset, load_dataset


class ProtocolMismatchError(ValueError):
    """A revision whose implementations lack what the side server calls (exit 2)."""


@dataclass(frozen=True)
class Plan:
    """What to measure and how; the same for both sides."""

    implementations: tuple[tuple[str, str], ...]  # (variant, framework)
    dataset: str
    data_dir: str | None
    preset: str  # implementations.spec preset
    batch_size: int  # images per train step
    seed: int  # weights, noise, batch order, evaluation samples
    threads: int  # CPU threads of each side's process
    measure: MeasureSettings
    quality_steps: int | None = None  # None: no quality comparison
    quality_samples: int = 1000
    cache_dir: Path | None = None  # reference classifiers (--quality)


@dataclass(frozen=True)
class ImplementationResult:
    variant: str
    framework: str
    verdict: Verdict
    measurement: Measurement | None = None
    exact: tuple[ExactCheck, ...] = ()
    quality: QualityComparison | None = None
    note: str = ""  # why a side did not measure
    wall_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.variant}/{self.framework}"


@dataclass(frozen=True)
class AbResult:
    base: Checkout
    head: Checkout
    plan: Plan
    implementations: tuple[ImplementationResult, ...]
    wall_s: float

    @property
    def regressed(self) -> bool:
        return any(entry.verdict.regression for entry in self.implementations)


def run_ab(
    repo: Path,
    base: str,
    head: str | None,
    plan: Plan,
    on_result: Callable[[ImplementationResult], None] | None = None,
) -> AbResult:
    """Check out both revisions, measure every planned implementation, clean up."""
    started = time.perf_counter()
    dataset = load_dataset(plan.dataset, Path(plan.data_dir) if plan.data_dir else None)
    results = []
    with (
        checkouts(repo, base, head) as (a, b),
        tempfile.TemporaryDirectory(prefix="ganbench-ab-run-") as scratch,
    ):
        data_file = write_data(dataset, Path(scratch) / "data.npz")
        for variant, framework in plan.implementations:
            entry = compare_implementation(
                a, b, variant, framework, plan, data_file, Path(scratch), dataset
            )
            results.append(entry)
            if on_result is not None:
                on_result(entry)
    return AbResult(a, b, plan, tuple(results), time.perf_counter() - started)


def write_data(dataset: Dataset, path: Path) -> Path:
    np.savez(
        path,
        train_images=dataset.train_images,
        train_labels=dataset.train_labels,
        test_images=dataset.test_images,
        num_classes=dataset.num_classes,
    )
    return path


def compare_implementation(
    a: Checkout,
    b: Checkout,
    variant: str,
    framework: str,
    plan: Plan,
    data_file: Path,
    scratch: Path,
    dataset: Dataset,
) -> ImplementationResult:
    """One process per side builds, counts and (--quality) trains; the timing sessions
    start fresh ones. Every process is ended before returning."""
    started = time.perf_counter()
    request = BuildRequest(
        framework, variant, plan.preset, plan.batch_size, plan.seed, str(data_file)
    )
    tag = f"{variant}-{framework}"
    with (
        SideProcess("A", a.path, plan.threads, scratch / f"{tag}-A.log") as side_a,
        SideProcess("B", b.path, plan.threads, scratch / f"{tag}-B.log") as side_b,
    ):
        facts = _build_both(side_a, side_b, request)
        early = _unmeasurable(facts)
        if early is not None:
            verdict, note = early
            return ImplementationResult(variant, framework, verdict, note=note)
        exact = _exact_checks(facts["A"], facts["B"])  # type: ignore[arg-type]
        try:
            opener = fresh_pairs(a.path, b.path, plan.threads, scratch / tag)
            measurement = measure_pair(opener, request, plan.measure)
        except SideFailedError as failure:  # a side died or diverged while being timed
            return ImplementationResult(
                variant, framework, Verdict.FAILED, exact=exact, note=str(failure)
            )
        quality = None
        if plan.quality_steps is not None:
            files = [
                side.quality(
                    plan.quality_steps, plan.quality_samples, scratch / f"{tag}-{side.label}.npz"
                )
                for side in (side_a, side_b)
            ]
            cache = plan.cache_dir or default_cache_dir()
            quality = compare_quality(files[0], files[1], dataset, cache, plan.quality_steps)
    verdict = final_verdict(measurement.throughput, exact)
    return ImplementationResult(
        variant,
        framework,
        verdict,
        measurement,
        exact,
        quality,
        wall_s=time.perf_counter() - started,
    )


def fresh_pairs(a: Path, b: Path, threads: int, logs: Path) -> PairOpener:
    """A fresh process per side for every timing session (bench/ab/measure.py says why),
    both started at once; their logs are LOGS-<session>-A.log and -B.log."""

    @contextlib.contextmanager
    def open_pair(session: int) -> Iterator[dict[str, SideProcess]]:
        with (
            SideProcess("A", a, threads, Path(f"{logs}-{session}-A.log"), True) as side_a,
            SideProcess("B", b, threads, Path(f"{logs}-{session}-B.log"), True) as side_b,
        ):
            yield {"A": side_a, "B": side_b}

    return open_pair


def _build_both(
    a: SideProcess, b: SideProcess, request: BuildRequest
) -> dict[str, BuildFacts | SideFailedError]:
    """Both sides build (and count FLOPs) at once, untimed; each gives its facts or failure.

    A side that does not speak the protocol ends the session (ProtocolMismatchError).
    """
    facts: dict[str, BuildFacts | SideFailedError] = {}
    for side in (a, b):
        try:
            side.send_build(request)
        except SideFailedError as failure:
            facts[side.label] = failure
    for side in (a, b):
        if side.label not in facts:
            try:
                facts[side.label] = side.build_facts()
            except SideFailedError as failure:
                facts[side.label] = failure
    for label, outcome in facts.items():
        if isinstance(outcome, SideFailedError) and outcome.kind == PROTOCOL:
            side = a if label == "A" else b
            raise ProtocolMismatchError(
                f"revision of side {label} ({side.checkout}) does not speak the side "
                f"protocol: {outcome}"
            )
    return facts


def _unmeasurable(facts: dict[str, BuildFacts | SideFailedError]) -> tuple[Verdict, str] | None:
    a, b = facts["A"], facts["B"]
    if isinstance(b, SideFailedError):
        if b.kind == UNSUPPORTED:
            return Verdict.MISSING, f"not in HEAD: {b}"
        return Verdict.FAILED, str(b)
    if isinstance(a, SideFailedError):
        return Verdict.NEW, f"not measurable in BASE: {a}"
    return None


def _exact_checks(a: BuildFacts, b: BuildFacts) -> tuple[ExactCheck, ...]:
    return (
        ExactCheck(FLOPS_PER_STEP.name, a.flops_per_step, b.flops_per_step),
        ExactCheck(PARAMS_GENERATOR.name, a.params.get("generator"), b.params.get("generator")),
        ExactCheck(
            PARAMS_DISCRIMINATOR.name, a.params.get("discriminator"), b.params.get("discriminator")
        ),
    )
