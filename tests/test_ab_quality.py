"""`bench ab --quality`: identical samples are reported identical, anything else with its size."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from bench.ab.quality import compare_quality


def samples_file(path: Path, samples: np.ndarray) -> Path:
    np.savez(path, samples=samples)
    return path


def test_identical_samples_give_identical_metrics_and_a_change_is_sized(tmp_path, digits):
    cache = Path(os.environ["GANBENCH_CACHE_DIR"])
    samples = digits.test_images[:200]
    base = samples_file(tmp_path / "a.npz", samples)
    same = compare_quality(
        base, samples_file(tmp_path / "b.npz", samples.copy()), digits, cache, 40
    )
    assert same.identical and same.max_abs_sample_difference == 0.0
    assert [(m.name, m.difference) for m in same.metrics] == [("fid_classifier", 0.0)]
    assert (
        same.describe() == "quality after 40 steps, 200 samples: bit-identical samples and metrics"
    )
    nudged = samples.copy()
    nudged[0, 0, 0, 0] += 0.5
    moved = compare_quality(base, samples_file(tmp_path / "c.npz", nudged), digits, cache, 40)
    assert not moved.identical and moved.max_abs_sample_difference == 0.5
    assert moved.metrics[0].difference != 0.0
    assert "samples differ (max |diff| 0.5); fid_classifier" in moved.describe()
