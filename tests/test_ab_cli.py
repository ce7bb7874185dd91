"""`python -m bench ab`: bad input is one line and exit 2, verdicts map to exit 0 / 1, the
JSON result is written. The real run that catches a planted 30% slowdown is the one
tests/test_ab_bisect.py makes at the planting commit.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.ab import session
from bench.ab.checkout import Checkout
from bench.ab.measure import Measurement, MeasureSettings
from bench.ab.session import AbResult, ImplementationResult, Plan
from bench.ab.stats import Interval
from bench.ab.verdict import ExactCheck, Verdict
from reports.html import report
from reports.sections.ab import AB_DIR
from tests.ab_scratch import commit, copy_of_this_tree, git
from tests.conftest import cli_environment
from tests.report_rows import crafted_rows, write_rows_fast


@pytest.fixture
def repo(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "a.txt").write_text("a\n")
    commit(root, "one")
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize(
    "arguments,expected",
    [
        (["nope"], "revision 'nope' does not name a commit"),
        (["HEAD", "HEAD~3"], "revision 'HEAD~3' does not name a commit"),
        (["HEAD", "--only", "dcgan,nosuch"], "--only: unknown name 'nosuch'; allowed: conditional"),
        (["HEAD", "--only", "tf", "--suite", "SUITE"], "--only 'tf' matches no implementation"),
        (["HEAD", "--budget-s", "0"], "--budget-s 0; must be > 0 seconds"),
        (["HEAD", "--min-effect", "0"], "--min-effect 0; must be between 0 and 50 percent"),
        (["HEAD", "--min-effect", "60"], "--min-effect 60; must be between 0 and 50 percent"),
        (["HEAD", "--threads", "0"], "--threads 0; must be >= 1"),
        (["HEAD", "--suite", "nosuch"], "unknown suite 'nosuch'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(repo, capsys, arguments, expected, tmp_path):
    suite = tmp_path / "torch_only.toml"
    suite.write_text('frameworks = ["torch"]\n')
    arguments = [str(suite) if a == "SUITE" else a for a in arguments]
    assert main(["ab", *arguments, "--out", str(tmp_path / "out")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1, captured.err
    assert captured.err.startswith("python -m bench ab: error: ") and expected in captured.err
    assert not (tmp_path / "out").exists()
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_an_unparsable_number_is_a_usage_error_with_exit_2(repo, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["ab", "HEAD", "--budget-s", "ten"])
    assert exit_info.value.code == 2
    assert "invalid float value: 'ten'" in capsys.readouterr().err


def crafted(verdicts: list[Verdict], repo: Path) -> AbResult:
    """A result as run_ab returns it, without measuring anything."""
    side = Checkout("A", "HEAD", "0" * 40, repo)
    plan = Plan(
        implementations=(("vanilla", "torch"),),
        dataset="digits",
        data_dir=None,
        preset="paper",
        batch_size=64,
        seed=0,
        threads=1,
        measure=MeasureSettings(budget_s=10.0, min_effect_pct=3.0, warmup_steps=5),
    )
    look = Interval(-10.0, -14.0, -6.0, 0.975, 0.02, 8)
    measurement = Measurement(
        2,
        64,
        (1.0,) * 16,
        (1.1,) * 16,
        (look,),
        2,
        None,
        "decided",
        40.0,
        session_end_s=(10.0, 20.0, 30.0, 40.0),
    )
    entries = tuple(
        ImplementationResult(
            f"v{i}", "torch", verdict, measurement, (ExactCheck("flops_per_step", 10, 10),)
        )
        for i, verdict in enumerate(verdicts)
    )
    return AbResult(side, Checkout("B", "WORKTREE", "1" * 40, repo, True), plan, entries, 50.0)


CSS = {  # the report cell's class per verdict
    Verdict.SAME: ["verdict-good"],
    Verdict.FASTER: ["verdict-good"],
    Verdict.SLOWER: ["verdict-bad"],
    Verdict.CHANGED: ["verdict-bad"],
    Verdict.FAILED: ["verdict-bad"],
    Verdict.INCONCLUSIVE: ["verdict-warn"],
    Verdict.NEW: ["verdict-warn"],
    Verdict.MISSING: ["verdict-warn"],
}


@pytest.mark.parametrize(
    "verdicts,status,summary",
    [
        ([Verdict.SAME, Verdict.FASTER], 0, "no regression: 1 faster, 1 same"),
        ([Verdict.SAME, Verdict.INCONCLUSIVE, Verdict.NEW], 0, "no regression: 1 same, 1 inc"),
        ([Verdict.SAME, Verdict.SLOWER], 1, "REGRESSION: 1 slower, 1 same"),
        ([Verdict.CHANGED], 1, "REGRESSION: 1 changed"),
        ([Verdict.FAILED, Verdict.MISSING], 1, "REGRESSION: 1 failed, 1 missing"),
    ],
)
def test_exit_status_follows_the_verdicts(
    repo, capsys, monkeypatch, tmp_path, verdicts, status, summary
):
    monkeypatch.setattr(session, "run_ab", lambda *args, **kwargs: crafted(verdicts, repo))
    out = tmp_path / "out"
    assert main(["ab", "HEAD", "--out", str(out)]) == status
    printed = capsys.readouterr().out.splitlines()
    assert printed[-3].startswith(summary)
    result_file = Path(printed[-2].removeprefix("result: "))
    written = json.loads(result_file.read_text())
    assert [e["verdict"] for e in written["implementations"]] == [v.value for v in verdicts]
    assert written["regressed"] is (status == 1) and written["schema_version"] == 1
    report = Path(printed[-1].removeprefix("report: "))
    assert report == result_file.with_suffix(".html")
    cells = [f'<td class="{css}">{v.value}</td>' for v in verdicts for css in CSS[v]]
    assert all(cell in report.read_text() for cell in cells)


def test_the_line_gives_verdict_change_interval_mde_and_windows(
    repo, capsys, monkeypatch, tmp_path
):
    monkeypatch.setattr(session, "run_ab", lambda *a, **k: crafted([Verdict.SLOWER], repo))
    main(["ab", "HEAD", "--out", str(tmp_path)])
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("slower"))
    # A: 16 windows of 2 steps x 64 images in 16 s = 128 images/s; B took 1.1 s a window:
    # 116. MDE: (z 0.9875 = 2.2414 + z 0.8 = 0.8416) x se 0.02 = 0.0617 -> 1 - e^-0.0617.
    assert line == (
        "slower       v0/torch  -10.0% [-14.0%, -6.0%] (97.50% interval), MDE 6.0%, "
        "32 windows of 2 steps in 4 sessions, 128 -> 116 images/s"
    )


def test_the_report_of_a_results_folder_shows_the_ab_results_in_it(
    repo, capsys, monkeypatch, tmp_path
):
    # `bench ab --out RESULTS/ab` puts the result where that folder's report finds it.
    results = tmp_path / "results"
    write_rows_fast(results, crafted_rows(seeds=(0,), with_failures=False))
    verdicts = [Verdict.SLOWER, Verdict.SAME]
    monkeypatch.setattr(session, "run_ab", lambda *a, **k: crafted(verdicts, repo))
    main(["ab", "HEAD", "--out", str(results / AB_DIR)])
    html = report(results).read_text()
    assert html.count('<section id="ab">') == 1
    assert '<td class="verdict-bad">slower</td>' in html
    assert '<td class="verdict-good">same</td>' in html
    assert report(results_without_ab(results, tmp_path)).read_text().count('id="ab"') == 0


def test_an_unreadable_ab_result_is_skipped_with_one_line_and_the_others_are_shown(
    repo, monkeypatch, tmp_path
):
    results = tmp_path / "results"
    write_rows_fast(results, crafted_rows(seeds=(0,), with_failures=False))
    monkeypatch.setattr(session, "run_ab", lambda *a, **k: crafted([Verdict.SLOWER], repo))
    main(["ab", "HEAD", "--out", str(results / AB_DIR)])
    truncated = results / AB_DIR / "ab-0-truncated.json"
    truncated.write_text('{"implementations": [')
    said: list[str] = []
    html = report(results, on_skip=said.append).read_text()
    assert said == [
        f"{truncated}: not a readable `bench ab` result "
        "(JSONDecodeError: Expecting value: line 1 column 22 (char 21))"
    ]
    assert html.count('<section id="ab">') == 1  # the readable result is still shown
    assert "unreadable files skipped (1)" in html


def results_without_ab(results: Path, tmp_path: Path) -> Path:
    other = tmp_path / "no-ab"
    shutil.copytree(results / "rows", other / "rows")
    return other


# --- real side processes ------------------------------------------------------------------


def run_ab_cli(repo: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", "ab", *arguments],
        cwd=repo,
        env={**cli_environment(), "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_a_revision_that_does_not_speak_the_side_protocol_is_exit_2(tmp_path):
    repo = copy_of_this_tree(tmp_path / "repo")
    spec = repo / "implementations" / "spec.py"
    spec.write_text(spec.read_text().replace("def make_spec(", "def make_spec_renamed("))
    commit(repo, "rename make_spec")
    done = run_ab_cli(repo, "HEAD~1", "HEAD", "--only", "vanilla,torch", "--budget-s", "5")
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.count("\n") == 1 and done.stdout == ""
    assert "side B" in done.stderr and "does not speak the side protocol" in done.stderr
    assert "make_spec" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_sigterm_mid_run_removes_checkouts_and_side_processes(tmp_path, signal_number):
    repo = copy_of_this_tree(tmp_path / "repo")
    commit(repo, "a second commit")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench", "ab", "HEAD~1", "HEAD", "--only", "vanilla,torch"],
        cwd=repo,
        env={**cli_environment(), "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not side_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(1)
    sides = side_processes(process.pid)
    assert len(sides) == 2 and len(git(repo, "worktree", "list").splitlines()) == 3
    process.send_signal(signal_number)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == (
        "python -m bench ab: interrupted; checkouts and side processes removed"
    )
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not any(Path(f"/proc/{pid}").exists() for pid in sides)


def side_processes(parent: int) -> list[int]:
    """PIDs of the side servers a driver started (children running side_server.py)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(
                int(line.split()[1])
                for line in status.read_text().splitlines()
                if line.startswith("PPid:")
            )
            command = (status.parent / "cmdline").read_bytes()
        except (OSError, StopIteration):
            continue
        if ppid == parent and b"side_server.py" in command:
            found.append(int(status.parent.name))
    return found
