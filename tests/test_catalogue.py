"""The metric catalogue is the one place a metric is described, and its readers follow it.

A metric added as one catalogue entry (here `classifier_test_accuracy`, a Row field no
reader names) is gated by `compare`, aggregated, given a leaderboard column and a CSV
column, with no other edit. Applicability is said by label use, never by variant name.
"""

from __future__ import annotations

import dataclasses

import pytest

from bench.catalogue import (
    CATALOGUE,
    COND_ACCURACY,
    LABEL_USES,
    PROBE_ACCURACY,
    SSL_ACCURACY,
    Kind,
    gated_quality,
    metric,
)
from bench.results import Row
from tests.conftest import run_python

ROW_FIELDS = {field.name for field in dataclasses.fields(Row)}


def test_every_catalogue_entry_is_a_row_field_named_once():
    names = [entry.name for entry in CATALOGUE]
    assert len(names) == len(set(names))
    assert set(names) <= ROW_FIELDS
    for entry in CATALOGUE:
        assert entry.comes_with is None or entry.comes_with in names, entry.name


def test_compare_gates_exactly_the_quality_metrics_with_a_floor():
    assert [m.name for m in gated_quality()] == [
        "fid_classifier",
        "fid_inception",
        "kid_classifier",
        "kid_inception",
        "parzen_ll",
        "cond_accuracy",
        "ssl_accuracy",
        "probe_accuracy",
    ]
    assert all(m.better is not None for m in gated_quality())
    assert [m.name for m in CATALOGUE if m.kind == Kind.WORK] == [
        "flops_per_step",
        "params_generator",
        "params_discriminator",
    ]


def test_applicability_follows_the_label_use():
    applies = {
        use: [m.name for m in (COND_ACCURACY, SSL_ACCURACY, PROBE_ACCURACY) if m.applies(use)]
        for use in LABEL_USES
    }
    assert applies == {
        "none": ["probe_accuracy"],
        "conditional": ["cond_accuracy"],
        "semi_supervised": ["ssl_accuracy", "probe_accuracy"],
    }
    with pytest.raises(ValueError, match="label_use 'conditional_gan'; allowed: none, cond"):
        COND_ACCURACY.applies("conditional_gan")


def test_an_unknown_metric_is_refused_naming_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown metric 'fid'; allowed: images_per_s, "):
        metric("fid")


# One entry appended to the catalogue before the readers are imported; nothing else changes.
ONE_MORE_METRIC = """
import dataclasses, json, sys
import bench.catalogue as catalogue
extra = catalogue.Metric(
    "classifier_test_accuracy", catalogue.Kind.QUALITY, "clf acc", "fraction",
    catalogue.PERCENT, catalogue.Better.HIGHER, floor=0.01,
    description="the reference classifier's test accuracy",
)
catalogue.CATALOGUE = (*catalogue.CATALOGUE, extra)
catalogue.BY_NAME[extra.name] = extra
from bench.compare import compare_rows
from reports.html import render
from reports.sections.raw import RAW_COLUMNS
from tests.report_rows import crafted_rows
before = crafted_rows(seeds=(0, 1, 2), variants=("vanilla",), with_failures=False)
after = [dataclasses.replace(row, classifier_test_accuracy=0.5) for row in before]
before = [dataclasses.replace(row, classifier_test_accuracy=0.9) for row in before]
entry = compare_rows(before, after).identities[0]
check = entry.check("classifier_test_accuracy")
html = render(after)
print(json.dumps({
    "verdict": entry.verdict, "check": check.verdict if check else None,
    "column": '>clf acc</th>' in html, "cell": '>50.0 ± 0.0%<' in html,
    "csv": RAW_COLUMNS[-1],
}))
"""


def test_one_catalogue_entry_reaches_compare_the_leaderboard_and_the_csv():
    done = run_python("-c", ONE_MORE_METRIC, timeout_s=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == (
        '{"verdict": "worse", "check": "worse", "column": true, "cell": true, '
        '"csv": "classifier_test_accuracy"}'
    )
