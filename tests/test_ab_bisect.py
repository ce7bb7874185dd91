"""The README's `git bisect run` recipe finds the commit that made vanilla/torch slower.

A scratch history of four commits: base, a harmless change, a planted 30% slowdown of
torch vanilla's train_step, another harmless change. The recipe, as the README gives it,
runs `bench ab base HEAD` at each commit bisect checks out (the driver from this tree,
`python -P` so the commit under test is never imported as the driver), maps exit 2 (bad
input) to 125 (skip), and must name the planted commit.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.ab_scratch import REPO_ROOT, commit, copy_of_this_tree, git, plant_slowdown
from tests.conftest import cli_environment

RECIPE = (
    "{python} -P -m bench ab {good} HEAD --only vanilla,torch --budget-s 240 --min-effect 10; "
    "status=$?; [ $status -eq 2 ] && exit 125; exit $status"
)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # three `bench ab` runs of 240 s, and their start-ups, under load
def test_bisect_run_names_the_commit_that_planted_the_slowdown(tmp_path):
    repo = copy_of_this_tree(tmp_path / "repo")
    good = git(repo, "rev-parse", "HEAD")
    (repo / "NOTES.txt").write_text("a harmless change\n")
    commit(repo, "harmless 1")
    plant_slowdown(repo, 0.30)
    planted = commit(repo, "slow down torch vanilla's train_step by 30%")
    (repo / "NOTES.txt").write_text("another harmless change\n")
    commit(repo, "harmless 2")
    git(repo, "bisect", "start", "HEAD", good)
    done = subprocess.run(
        ["git", "bisect", "run", "sh", "-c", RECIPE.format(python=sys.executable, good=good)],
        cwd=repo,
        env={**cli_environment(), "PYTHONPATH": str(REPO_ROOT)},
        capture_output=True,
        text=True,
        timeout=1700,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"{planted} is the first bad commit" in done.stdout
