"""The verdict benchmarks of reports/verdict_benchmarks: A/A resampling and replication.

Crafted rows (tests/report_rows.py) stand in for trained ones: their throughput has 4%
seed noise, so a planted 1.5x slowdown is always found, and a folder whose values are
swapped reverses every claim.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from reports.verdict_benchmarks import aa, replication
from tests.report_rows import crafted_rows

SEEDS = tuple(range(10))


@pytest.fixture(scope="module")
def aa_rows():
    return crafted_rows(
        seeds=SEEDS, variants=("vanilla", "dcgan"), frameworks=("torch",), with_failures=False
    )


def test_pretend_implementations_are_disjoint_draws_of_one_implementation(aa_rows):
    rng = np.random.default_rng(0)
    for _ in range(50):
        pretend = aa.pretend_rows(aa_rows, rng)
        for variant in ("vanilla", "dcgan"):
            drawn = [row for row in pretend if row.variant == variant]
            speeds = {row.images_per_s for row in drawn}
            assert len(speeds) == 2 * aa.PER_SIDE  # six different runs, none twice
            assert speeds <= {r.images_per_s for r in aa_rows if r.variant == variant}
            assert sorted((r.framework, r.seed) for r in drawn) == [
                (side, seed) for side in sorted(aa.SIDES) for seed in range(aa.PER_SIDE)
            ]


def test_aa_counts_calls_per_card_and_finds_the_planted_effect(aa_rows):
    result = aa.run(aa_rows, trials=20, seed=0)
    assert result["trials"] == 20 and result["runs"] == {"dcgan": 10, "vanilla": 10}
    assert set(result["cards"]) == {
        "Best quality",
        "Highest throughput",
        "Best quality per second of training",
    }
    for check in ("vanilla: speed", "dcgan: speed"):
        # 1.5x against 4% noise is t ~ 12: at Hsu's 2 df, Holm over 4, found 19 times in 20
        assert result["planted"]["detection"][check]["calls"] >= 18
    rate = result["any_false_call_in_report"]
    assert rate["low"] <= rate["rate"] <= rate["high"]


def test_too_few_runs_for_three_against_three_is_refused(aa_rows):
    few = [row for row in aa_rows if row.seed < 5]
    with pytest.raises(ValueError, match="dcgan: 5 ok runs; need 6 or more"):
        aa.run(few, trials=1, seed=0)


def test_replication_counts_held_and_reversed_claims():
    rows = crafted_rows(seeds=tuple(range(6)), with_failures=False)
    first = [row for row in rows if row.seed < 3]
    second = [row for row in rows if row.seed >= 3]
    found = replication.claims(first)
    assert found  # throughput differs by far more than its 4% noise
    held = replication.summary(replication.retest(found, second))
    assert held["held"] == held["claims"] and held["reversed"] == 0
    # The second folder with every implementation's throughput turned upside down.
    flipped = [dataclasses.replace(r, images_per_s=1e6 / r.images_per_s) for r in second]
    retests = replication.retest(found, flipped)
    speed = [r for r in retests if r.claim.metric == "images_per_s"]
    assert speed and all(r.verdict == "reversed" for r in speed)


def test_benchmark_commands_refuse_a_missing_folder_in_one_line(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert replication.main([str(missing), str(missing)]) == 2
    assert aa.main([str(missing)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(str(missing) in line or "no rows" in line for line in lines)
