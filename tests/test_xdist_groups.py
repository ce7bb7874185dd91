"""`tox -e test`'s --dist loadgroup keeps an xdist group on one worker.

The cluster tests rely on it (one cluster at a time), and so do the tests that share an
expensive module fixture (one worker computes it once). pytest 9.2 with pytest-xdist 3.8
silently stopped grouping: each worker ran some of a group, and computed its fixture
again. A scratch module of grouped and ungrouped tests, run on two workers, says which
worker ran each test.
"""

from __future__ import annotations

import json
import os

from tests.conftest import REPO_ROOT, run_python

SCRATCH_TESTS = """\
import json, os
import pytest

@pytest.fixture(scope="module")
def shared():
    with open(os.environ["SETUPS_FILE"], "a") as stream:
        stream.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.mark.xdist_group("shared")
@pytest.mark.parametrize("case", range(6))
def test_grouped(shared, case):
    with open(os.environ["WORKERS_FILE"], "a") as stream:
        stream.write(json.dumps([case, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")

@pytest.mark.parametrize("case", range(6))
def test_free(case):
    pass
"""


def test_a_group_runs_on_one_worker_and_its_module_fixture_is_set_up_once(tmp_path):
    ran, setups = run_scratch_tests(tmp_path, SCRATCH_TESTS, "no:randomly")
    assert sorted(case for case, _ in ran) == list(range(6))
    assert len({worker for _, worker in ran}) == 1, ran
    assert len(setups) == 1


UNMARKED_SHARED_FIXTURE_TESTS = """\
import json, os
import pytest

@pytest.fixture(scope="module")
def computed_once():
    with open(os.environ["SETUPS_FILE"], "a") as stream:
        stream.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

@pytest.fixture
def cheap():
    return 1

@pytest.mark.parametrize("case", range(4))
def test_one(computed_once, case):
    with open(os.environ["WORKERS_FILE"], "a") as stream:
        stream.write(json.dumps([case, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")

@pytest.mark.parametrize("case", range(4, 8))
def test_another(computed_once, cheap, case):
    with open(os.environ["WORKERS_FILE"], "a") as stream:
        stream.write(json.dumps([case, os.environ["PYTEST_XDIST_WORKER"]]) + "\\n")

@pytest.mark.parametrize("case", range(8))
def test_free(cheap, case):
    pass
"""


def test_tests_sharing_an_unmarked_module_fixture_run_on_one_worker_that_sets_it_up_once(
    tmp_path,
):
    # no xdist_group mark: tests/fixture_groups.py (loaded as tests/conftest.py loads it) adds it
    ran, setups = run_scratch_tests(tmp_path, UNMARKED_SHARED_FIXTURE_TESTS, "tests.fixture_groups")
    assert sorted(case for case, _ in ran) == list(range(8))
    assert len({worker for _, worker in ran}) == 1, ran
    assert len(setups) == 1


def run_scratch_tests(tmp_path, source: str, plugin: str) -> tuple[list, list[str]]:
    """Run `source` as a test module on two xdist workers (--dist loadgroup) with `-p plugin`;
    return [case, worker] of every test that wrote one, and the workers that set up the
    module fixture."""
    (tmp_path / "test_scratch.py").write_text(source)
    setups, workers = tmp_path / "setups.txt", tmp_path / "workers.jsonl"
    env = {"SETUPS_FILE": str(setups), "WORKERS_FILE": str(workers), "PYTHONPATH": str(REPO_ROOT)}
    done = run_python(
        *("-m", "pytest", "-q", "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider"),
        *("-p", plugin, "test_scratch.py"),
        cwd=tmp_path,
        env={**outer_environment(), **env},
        timeout_s=120,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    ran = [json.loads(line) for line in workers.read_text().splitlines()]
    return ran, setups.read_text().splitlines()


def outer_environment() -> dict[str, str]:
    """This process's environment less pytest's own variables (this test may run in xdist)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
