"""Scratch git repositories with a planted slowdown, for `bench ab`'s tests and benchmarks.

The repository is a copy of this tree (tracked files and untracked ones git does not
ignore), so the driver run from it is this tree's code. A planted slowdown wraps torch
vanilla's `train_step`: after each step it spins (busy, on the CPU) for `fraction` of
the time the step itself took, so the step takes 1 + fraction times as long whatever
the machine's load is.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
TRAIN_STEP_FILE = "implementations/torch/vanilla.py"
IDENTITY = ("-c", "user.name=ab test", "-c", "user.email=ab@localhost")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def copy_of_this_tree(repo: Path) -> Path:
    """A new git repository at `repo` holding this tree's files, committed on branch `base`."""
    listed = git(REPO_ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for name in filter(None, listed.split("\0")):
        source = REPO_ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "--quiet", "--initial-branch=base")
    commit(repo, "base: a copy of the tree")
    return repo


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, *IDENTITY, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def plant_slowdown(repo: Path, fraction: float) -> None:
    """Make torch vanilla's train_step take (1 + fraction) times as long (busy spin)."""
    code = f"""

# Planted slowdown (tests/ab_scratch.py): spin for {fraction!r} of each step's own time.
_unplanted_train_step = VanillaGAN.train_step


def _planted_train_step(self, images, labels, labelled_mask):
    import time

    started = time.perf_counter()
    losses = _unplanted_train_step(self, images, labels, labelled_mask)
    until = time.perf_counter() + {fraction!r} * (time.perf_counter() - started)
    while time.perf_counter() < until:
        pass
    return losses


VanillaGAN.train_step = _planted_train_step
"""
    path = repo / TRAIN_STEP_FILE
    path.write_text(path.read_text() + code)
