"""The README's `git bisect run` recipe finds the commit that made vanilla/torch slower.

A scratch history of four commits: base, a harmless change, a planted 30% slowdown of
torch vanilla's train_step, another harmless change. The recipe, as the README gives it,
runs `bench ab base HEAD` at each commit bisect checks out (the driver from this tree,
`python -P` so the commit under test is never imported as the driver), maps exit 2 (bad
input) to 125 (skip), and must name the planted commit. The `bench ab` run at the planted
commit is also the end-to-end check of a real slowdown: its JSON result must say `slower`,
far past the threshold, with no exact change, and leave no worktree (this was a test of its
own, which timed the same planted commit a second time).
"""

from __future__ import annotations

import json
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
    # each `bench ab` run bisect made left its result (results/ is ignored, so it stays)
    results = [json.loads(path.read_text()) for path in (repo / "results" / "ab").glob("*.json")]
    by_commit = {result["head"]["commit"]: result for result in results}
    assert len(by_commit) == len(results) >= 2 and planted in by_commit, sorted(by_commit)
    for commit_id, result in by_commit.items():
        [entry] = result["implementations"]
        assert (entry["verdict"] == "slower") is (commit_id == planted), (commit_id, entry)
        assert result["regressed"] is (commit_id == planted)
        # FLOPs and parameter counts equal on both sides: a busy spin changes no work
        assert [c["name"] for c in entry["exact"] if c["base"] != c["head"]] == []
    assert "REGRESSION: 1 slower" in done.stdout
    # 1.3x the step time would be -23.1% in images/s, but the busy-spin plant is not exactly
    # that beside other jobs: a spin preempted near its end overshoots. In full-suite runs
    # (2026-12-04) the estimate was -25.4% [-27.6%, -23.2%], -29.0% [-35.1%, -24.8%] and,
    # beside two other xdist workers on 2 cores, -22.3% [-30.0%, -6.0%]: load widens the
    # interval, and the run stops at the first look that decides. How well the interval
    # holds a planted effect is the power curve's claim (reports/ab_power.json); here the
    # estimate must be far past the 10% threshold's marginal cases, not at it.
    interval = by_commit[planted]["implementations"][0]["measurement"]["looks"][-1]
    assert interval["high_pct"] < 0 and interval["change_pct"] < -15.0, interval
    assert len(git(repo, "worktree", "list").splitlines()) == 1  # only the repository
