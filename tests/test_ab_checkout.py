"""`bench ab`'s checkouts: one git worktree per side, always removed, bad revisions named."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.ab.checkout import WORKING_TREE, CheckoutError, checkouts
from tests.ab_scratch import commit, git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """Two commits: step.py says 'one', then 'two'."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "step.py").write_text("one\n")
    commit(root, "one")
    (root / "step.py").write_text("two\n")
    commit(root, "two")
    return root


def worktrees(repo: Path) -> list[str]:
    return [line for line in git(repo, "worktree", "list").splitlines() if line]


def test_each_side_is_its_revision_and_both_are_removed_afterwards(repo):
    with checkouts(repo, "HEAD~1", "HEAD") as (a, b):
        assert (a.path / "step.py").read_text() == "one\n"
        assert (b.path / "step.py").read_text() == "two\n"
        assert a.commit == git(repo, "rev-parse", "HEAD~1") and not b.dirty
        assert len(worktrees(repo)) == 3
        paths = (a.path, b.path)
    assert not any(path.exists() for path in paths)
    assert not paths[0].parent.exists()  # the temporary folder too
    assert worktrees(repo) == worktrees(repo)[:1] and len(worktrees(repo)) == 1


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_checkouts_are_removed_after_an_error_or_ctrl_c(repo, error):
    with pytest.raises(error), checkouts(repo, "HEAD~1", "HEAD") as (a, b):
        paths = (a.path, b.path)
        raise error()
    assert not any(path.exists() for path in paths)
    assert len(worktrees(repo)) == 1


def test_head_defaults_to_the_working_tree_with_uncommitted_and_untracked_changes(repo):
    (repo / "step.py").write_text("three, not committed\n")
    (repo / "new_module.py").write_text("x = 1\n")
    (repo / "ignored.log").write_text("build output\n")
    (repo / ".gitignore").write_text("*.log\n")
    with checkouts(repo, "HEAD", None) as (a, b):
        assert (a.path / "step.py").read_text() == "two\n"
        assert (b.path / "step.py").read_text() == "three, not committed\n"
        assert (b.path / "new_module.py").read_text() == "x = 1\n"
        assert not (b.path / "ignored.log").exists()
        assert b.revision == WORKING_TREE and b.dirty and not a.dirty
    assert (repo / "step.py").read_text() == "three, not committed\n"  # the tree is untouched
    assert git(repo, "stash", "list") == ""


def test_a_clean_working_tree_is_head_itself(repo):
    with checkouts(repo, "HEAD~1", None) as (_, b):
        assert b.commit == git(repo, "rev-parse", "HEAD") and not b.dirty


@pytest.mark.parametrize("base,head", [("no-such-branch", "HEAD"), ("HEAD", "HEAD~7")])
def test_a_revision_that_does_not_exist_is_named(repo, base, head):
    bad = base if base != "HEAD" else head
    with (
        pytest.raises(CheckoutError, match=f"revision '{bad}' does not name a commit"),
        checkouts(repo, base, head),
    ):
        pass
    assert len(worktrees(repo)) == 1


def test_a_folder_outside_git_is_refused(tmp_path):
    with (
        pytest.raises(CheckoutError, match="is not inside a git repository"),
        checkouts(tmp_path, "HEAD", None),
    ):
        pass


def test_a_working_tree_in_the_middle_of_a_merge_conflict_is_refused(repo):
    git(repo, "checkout", "--quiet", "-b", "other", "HEAD~1")
    (repo / "step.py").write_text("other\n")
    commit(repo, "other")
    git(repo, "checkout", "--quiet", "main")
    with pytest.raises(Exception):  # noqa: B017 - git merge exits 1 on the conflict
        git(repo, "merge", "other")
    with (
        pytest.raises(CheckoutError, match=r"unmerged paths \['step.py'\]"),
        checkouts(repo, "HEAD", None),
    ):
        pass
