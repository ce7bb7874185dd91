"""The label budget, end to end: what reached train_step in a real worker, counted.

A semi-supervised run may read N labels, N/K per class, of training images only, and its
supervised-only baseline exactly the same N. tests/plugins/recording.py is ssgan under
another name whose every staged batch (to_device is the only way into train_step) is
written down; the suite runs through `python -m bench run` and its worker processes, and
this test maps every recorded image back to its split and index.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest

from bench.results import read_rows
from bench.worker import BASELINE_LOSS
from tests.conftest import cli_environment, run_cli
from tests.plugins.names import RECORD_ENV
from tests.plugins.recording_torch import image_hash
from tests.suite_files import write_suite

N_LABELS = 30  # 3 per class of digits' 10
BATCH_SIZE = 32
STEPS = 40


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, digits):
    folder = tmp_path_factory.mktemp("label-budget")
    suite = write_suite(
        folder,
        "label-budget",
        variants=["recorded_ssgan"],
        ssl_labels=N_LABELS,
        batch_sizes=[BATCH_SIZE],
        steps=STEPS,
    )
    record = folder / "batches.jsonl"
    env = {
        **cli_environment(),
        "GANBENCH_PLUGINS": "tests.plugins.recording",
        RECORD_ENV: str(record),
    }
    done = run_cli("run", "--suite", str(suite), "--out", str(folder / "out"), env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = read_rows(folder / "out")
    batches = [json.loads(line) for line in record.read_text().splitlines()]
    return row, batches


def where(digits) -> dict[str, tuple[str, int]]:
    """Every digits image's hash -> (split, index in it)."""
    splits = {
        "train": digits.train_images,
        "valid": digits.valid_images,
        "test": digits.test_images,
    }
    return {
        image_hash(image): (split, index)
        for split, images in splits.items()
        for index, image in enumerate(images)
    }


def staged(batches: list[dict], loss: str, digits) -> list[tuple[str, int | None, int, bool]]:
    """(split or "none", index, label as given, labelled) of every image staged for `loss`."""
    found = where(digits)
    return [
        (*found.get(hashed, ("none", None)), label, labelled)
        for batch in batches
        if batch["loss"] == loss
        for hashed, label, labelled in zip(
            batch["images"], batch["labels"], batch["labelled"], strict=True
        )
    ]


def test_a_semi_supervised_run_trains_on_exactly_its_n_labels_n_over_k_per_class(recorded, digits):
    row, batches = recorded
    images = staged(batches, "semi_supervised", digits)
    labelled = {index for split, index, _, seen in images if seen and split == "train"}
    assert row.status == "ok", row.error
    assert len(labelled) == N_LABELS
    assert sorted(labelled) == row.ssl_labelled_indices  # the row names what fed training
    per_class = Counter(int(digits.train_labels[index]) for index in labelled)
    assert per_class == {k: N_LABELS // 10 for k in range(10)}
    # a label is given with its image only where the mask says so; elsewhere it is -1
    for split, index, label, seen in images:
        if split == "train":
            assert label == (int(digits.train_labels[index]) if seen else -1)


def test_no_validation_or_test_image_reaches_training(recorded, digits):
    _, batches = recorded
    splits = Counter(split for split, *_ in staged(batches, "semi_supervised", digits))
    # "none": the one random batch bench.flops stages to count a step's FLOPs
    assert splits == {"train": BATCH_SIZE * STEPS, "none": BATCH_SIZE}


def test_the_supervised_baseline_trains_on_the_same_n_labels(recorded, digits):
    row, batches = recorded
    gan = {
        i
        for split, i, _, seen in staged(batches, "semi_supervised", digits)
        if seen and split == "train"
    }
    images = staged(batches, BASELINE_LOSS, digits)
    baseline = {index for _, index, _, seen in images if seen}
    assert baseline == gan and len(baseline) == N_LABELS
    assert {split for split, *_ in images} == {"train"}
    assert len(images) == BATCH_SIZE * STEPS
    assert row.ssl_baseline_accuracy is not None
