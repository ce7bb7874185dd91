"""One `python -m bench run` per results folder at a time.

Two suites writing one folder would run the same runs twice and write the same
row files from two processes. The first `run` takes RESULTS_DIR/.lock with
filelock (an flock(2) lock, which the kernel drops when its process dies, so a
killed driver never leaves a stale lock behind) and records who holds it in
RESULTS_DIR/.lock.owner. A second `run` on the folder does not wait: it stops
at once with one line naming the folder and the holder's PID.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from bench.atomic_file import write_text_atomically
from bench.provenance import hostname, utc_now

LOCK_FILE = ".lock"  # hidden: never read as a row, never listed by the report
OWNER_FILE = ".lock.owner"
OWNER_WAIT_S = 2.0  # how long a refused run waits for the holder to have written its name


class ResultsFolderBusyError(ValueError):
    """Another process holds the results folder's lock."""


class ResultsFolderError(ValueError):
    """The results folder cannot be created or written."""


@contextlib.contextmanager
def results_folder_lock(results_dir: Path) -> Iterator[None]:
    """Create RESULTS_DIR if needed and hold RESULTS_DIR/.lock for the block.

    Raises ResultsFolderBusyError at once if another process holds it, and
    ResultsFolderError if the folder cannot be created or written (a write is tried: root
    passes every permission check). When the block fails and the folder holds nothing but
    the lock, the folders this call created are removed again: bad input leaves nothing.
    """
    results_dir = Path(results_dir)
    created = [folder for folder in (results_dir, *results_dir.parents) if not folder.exists()]
    lock = FileLock(results_dir / LOCK_FILE, timeout=0)
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise ResultsFolderBusyError(
            f"results folder {results_dir} is in use by another `python -m bench run` "
            f"({holder_description(results_dir)}, lock {results_dir / LOCK_FILE}); wait for it "
            "to finish, or pass another --out"
        ) from None
    except OSError as error:
        raise ResultsFolderError(
            f"results folder {results_dir} cannot be written: {error}"
        ) from None
    try:
        _write_owner(results_dir)
        yield
    except BaseException:
        _remove_if_unused(results_dir, created)
        raise
    finally:
        (results_dir / OWNER_FILE).unlink(missing_ok=True)
        lock.release()


def _remove_if_unused(results_dir: Path, created: list[Path]) -> None:
    """Remove the lock files and the folders `created`, if nothing else was put in them."""
    if {path.name for path in results_dir.iterdir()} - {LOCK_FILE, OWNER_FILE}:
        return
    for name in (LOCK_FILE, OWNER_FILE):
        (results_dir / name).unlink(missing_ok=True)
    for folder in created:  # deepest first
        with contextlib.suppress(OSError):
            folder.rmdir()


def holder_description(results_dir: Path) -> str:
    """'PID 1234 on host h since T' from the owner file; it may lag the lock by a moment."""
    deadline = time.monotonic() + OWNER_WAIT_S
    while True:
        owner = _read_owner(Path(results_dir))
        if owner is not None:
            return f"PID {owner['pid']} on host {owner['host']} since {owner['since']}"
        if time.monotonic() > deadline:
            return "PID unknown: the holder has not recorded itself"
        time.sleep(0.05)


def _read_owner(results_dir: Path) -> dict | None:
    """The holder's record, or None while it is missing, half-written or a dead process's."""
    try:
        owner = json.loads((results_dir / OWNER_FILE).read_text())
        pid = int(owner["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if owner.get("host") == hostname() and not _alive(pid):
        return None  # left by a driver that was killed; the new holder is about to write
    return owner


def _write_owner(results_dir: Path) -> None:
    record = {"pid": os.getpid(), "host": hostname(), "since": utc_now()}
    write_text_atomically(results_dir / OWNER_FILE, json.dumps(record))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
