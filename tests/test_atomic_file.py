"""Results files are written atomically and with the user's umask, like any other tool's:
rows, baselines, the report, `ab`'s result and page and the results folder's lock-owner
record are 0644 under umask 022 and 0640 under 027, so a results folder on a shared disk
is readable by the team (tempfile.mkstemp made them 0600)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.ab.output import write_result
from bench.ab.verdict import Verdict
from bench.atomic_file import write_text_atomically
from bench.baseline_file import save_baseline
from bench.lock import OWNER_FILE, results_folder_lock
from bench.results import write_row
from reports.html import report
from reports.sections.ab import write_ab_report
from tests.report_rows import crafted_rows
from tests.test_ab_cli import crafted

# umask -> the mode a new file gets: 0666 less the umask's bits
MODE_UNDER_UMASK = {0o022: 0o644, 0o027: 0o640, 0o077: 0o600}


@pytest.fixture
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", sorted(MODE_UNDER_UMASK), indirect=True)
def test_row_baseline_and_report_get_the_mode_the_umask_allows(umask: int, tmp_path: Path):
    results = tmp_path / "results"
    row_path = write_row(results, crafted_rows(seeds=[0])[0])
    baseline_path = tmp_path / "baseline.json"
    save_baseline(results, baseline_path)
    report_path = report(results, tmp_path / "report.html")
    expected = MODE_UNDER_UMASK[umask]
    assert {
        name: oct(mode(path))
        for name, path in [("row", row_path), ("baseline", baseline_path), ("report", report_path)]
    } == {"row": oct(expected), "baseline": oct(expected), "report": oct(expected)}


@pytest.mark.parametrize("umask", sorted(MODE_UNDER_UMASK), indirect=True)
def test_ab_result_page_and_lock_owner_get_the_mode_the_umask_allows(umask: int, tmp_path: Path):
    result_path = write_result(crafted([Verdict.SAME], tmp_path), tmp_path / "ab")
    page_path = write_ab_report(result_path)
    results = tmp_path / "results"
    with results_folder_lock(results):
        owner_mode = mode(results / OWNER_FILE)
    expected = oct(MODE_UNDER_UMASK[umask])
    assert (oct(mode(result_path)), oct(mode(page_path)), oct(owner_mode)) == (expected,) * 3


@pytest.mark.parametrize("umask", [0o022], indirect=True)
def test_replacing_a_file_gives_it_the_umask_mode_not_the_old_one(umask: int, tmp_path: Path):
    target = tmp_path / "report.html"
    target.write_text("old")
    target.chmod(0o600)
    write_text_atomically(target, "new")
    assert (target.read_text(), oct(mode(target))) == ("new", oct(0o644))


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path: Path):
    target = tmp_path / "rows" / "run.json"
    write_text_atomically(target, '{"old": 1}\n')
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(target, "\ud800")  # a lone surrogate: UTF-8 cannot encode it
    assert target.read_text() == '{"old": 1}\n'
    assert sorted(path.name for path in target.parent.iterdir()) == ["run.json"]
