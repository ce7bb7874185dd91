"""The committed power curve of `bench ab` is complete and the README quotes it as it is.

reports/ab_power.json holds every trial (tests/benchmarks/ab_power.py); the README's table
is that script's table of it, line for line, so neither can drift from the other.
"""

from __future__ import annotations

import json
from collections import Counter

from tests.benchmarks.ab_power import OUT_JSON, table
from tests.conftest import REPO_ROOT

TRIALS_ASKED = {0.0: 20, 0.03: 5, 0.05: 5, 0.10: 20, 0.20: 5}  # issue 15's minimum counts


def test_the_record_has_the_trials_the_issue_asks_half_the_null_ones_under_load():
    trials = [t for t in json.loads(OUT_JSON.read_text())["trials"] if "verdict" in t]
    per_fraction = Counter(t["fraction"] for t in trials)
    assert all(per_fraction[f] >= n for f, n in TRIALS_ASKED.items()), per_fraction
    null_load = Counter(t["load"] for t in trials if t["fraction"] == 0.0)
    assert null_load[True] == null_load[False]


def test_the_readme_quotes_the_records_table_line_for_line():
    readme = (REPO_ROOT / "README.md").read_text()
    for line in table(json.loads(OUT_JSON.read_text())).splitlines():
        assert line in readme, line
