"""Each side of `bench ab` in its own checkout: `git worktree add` in a temporary folder.

A revision is checked out detached; the working tree (HEAD's default) is `git stash
create`'s commit of the tracked changes, plus the untracked files git does not ignore,
copied in. Every worktree is removed again, and pruned from the repository's list, when
the block ends: normally, on an error and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WORKING_TREE = "WORKTREE"  # what HEAD means when the command line gives none


class CheckoutError(ValueError):
    """A revision that does not resolve, or a tree that cannot be checked out."""


@dataclass(frozen=True)
class Checkout:
    """One side's tree on disk and what it is."""

    label: str  # "A" or "B"
    revision: str  # as the user gave it (or WORKING_TREE)
    commit: str  # the full hash checked out (a stash commit for a dirty working tree)
    path: Path
    dirty: bool = False  # the working tree's uncommitted changes are included


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; CheckoutError with git's own first line when it fails."""
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["(no message)"])[0]
        raise CheckoutError(f"git {' '.join(args)}: {first}")
    return done.stdout.strip()


def repository_root(start: Path) -> Path:
    try:
        return Path(git(start, "rev-parse", "--show-toplevel"))
    except CheckoutError:
        raise CheckoutError(
            f"{start} is not inside a git repository; `ab` compares revisions"
        ) from None
    except FileNotFoundError:
        raise CheckoutError("git is not installed; `ab` needs it to check out revisions") from None


def resolve(repo: Path, revision: str) -> str:
    """The commit a revision names; CheckoutError naming it when there is none."""
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    except CheckoutError:
        raise CheckoutError(
            f"revision {revision!r} does not name a commit in {repo} "
            "(give a branch, tag, hash or HEAD~N)"
        ) from None


def working_tree_commit(repo: Path) -> tuple[str, bool]:
    """A commit holding the working tree's tracked state: (hash, whether it was dirty)."""
    unmerged = git(repo, "diff", "--name-only", "--diff-filter=U")
    if unmerged:
        raise CheckoutError(
            f"the working tree cannot be checked out: unmerged paths {unmerged.split()} "
            "(finish the merge or give HEAD explicitly)"
        )
    stash = git(repo, "stash", "create")
    return (stash, True) if stash else (resolve(repo, "HEAD"), False)


@contextlib.contextmanager
def checkouts(repo: Path, base: str, head: str | None) -> Iterator[tuple[Checkout, Checkout]]:
    """(A, B) checked out in a temporary folder, removed afterwards whatever happens."""
    repo = repository_root(Path(repo))
    base_commit = resolve(repo, base)
    if head is None:
        head_label, (head_commit, dirty) = WORKING_TREE, working_tree_commit(repo)
    else:
        head_label, head_commit, dirty = head, resolve(repo, head), False
    folder = Path(tempfile.mkdtemp(prefix="ganbench-ab-"))
    added: list[Path] = []
    try:
        for label, commit in (("A", base_commit), ("B", head_commit)):
            git(repo, "worktree", "add", "--detach", "--quiet", str(folder / label), commit)
            added.append(folder / label)
        if head is None and copy_untracked(repo, folder / "B"):
            dirty = True
        yield (
            Checkout("A", base, base_commit, folder / "A"),
            Checkout("B", head_label, head_commit, folder / "B", dirty),
        )
    finally:
        for path in added:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(path)], cwd=repo, capture_output=True
            )
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True)


def copy_untracked(repo: Path, destination: Path) -> list[str]:
    """Copy the untracked files git does not ignore (new modules of the change) over."""
    names = git(repo, "ls-files", "--others", "--exclude-standard", "-z").split("\0")
    copied = [name for name in names if name and (repo / name).is_file()]
    for name in copied:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, target)
    return copied
