"""tox -e micro's first run: nothing saved yet to compare with, so save and say so.

pytest-benchmark refuses `--benchmark-compare-fail` when no earlier run is saved
(a usage error); a fresh clone would then never get its first saved run. When
the comparison is asked for and no run of this machine is saved, this drops the
comparison for this one run, which `--benchmark-autosave` then saves.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_benchmark.utils import get_machine_id

SAVED_RUN_GLOB = "[0-9][0-9][0-9][0-9]_*.json"  # pytest-benchmark's autosave file names


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads the options (trylast)
def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("benchmark_compare_fail", None):
        return
    storage = config.getoption("benchmark_storage")
    if "://" in storage and not storage.startswith("file://"):
        return  # a database storage: pytest-benchmark knows what it holds
    folder = Path(storage.removeprefix("file://")) / get_machine_id()
    if any(folder.glob(SAVED_RUN_GLOB)):
        return
    config.option.benchmark_compare = []
    config.option.benchmark_compare_fail = None
    config.issue_config_time_warning(
        pytest.PytestWarning(
            f"no saved micro-benchmark run in {folder}: this run is saved as the first one "
            "and the next run is compared with it"
        ),
        stacklevel=2,
    )
