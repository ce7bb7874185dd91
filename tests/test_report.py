"""The HTML report: what it shows, that it never runs row text, its command line, a browser.

Rows are crafted (tests/report_rows.py), not trained: thirty runs of the ten
implementations, three of which failed, diverged, or carry a script in their
error. The browser test opens the file from disk in Debian's headless
Chromium through Playwright (no browser download) and is skipped, saying
why, where either is missing; `.ci/run` installs both.
"""

from __future__ import annotations

import base64
import dataclasses
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.compare import Check, Identity, IdentityComparison, Verdict
from bench.results import Row, write_row
from reports import ReportError, report
from reports.aggregate import (
    Implementation,
    Stat,
    feature_space,
    group_implementations,
    pareto_front,
    quality_metric,
)
from reports.sections.choose import Candidate, Lead, best_by, lead_text, time_to_target
from reports.sections.frameworks import framework_twins
from reports.sections.samples import sample_grids
from reports.significance import Outcome
from tests.conftest import REPO_ROOT, import_or_skip_unless_ci, run_cli, skip_unless_ci
from tests.report_rows import MALICIOUS_ERROR, crafted_rows, write_rows_fast

IMPLEMENTATIONS = 10  # 5 variants x 2 frameworks
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_COPY = Path("/tmp/report_screenshot.png")


def write_folder(folder: Path, rows: list[Row]) -> Path:
    for row in rows:
        write_row(folder, row)
    return folder


@pytest.fixture(scope="module")
def suite_report(tmp_path_factory) -> tuple[Path, str]:
    """The report of thirty crafted runs, written once for the module."""
    folder = write_folder(tmp_path_factory.mktemp("results"), crafted_rows())
    path = report(folder)
    return path, path.read_text()


def leaderboard_keys(html: str) -> list[str]:
    return re.findall(r'<tr data-implementation="([^"]+)"', html)


def section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start : html.index("</section>", start)]


# ----------------------------------------------------------------------------- content


def test_report_is_written_into_the_results_folder_by_default(suite_report):
    path, html = suite_report
    assert path.name == "report.html" and path.parent.joinpath("rows").is_dir()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


def test_leaderboard_has_one_line_per_implementation(suite_report):
    _, html = suite_report
    keys = leaderboard_keys(html)
    assert len(keys) == len(set(keys)) == IMPLEMENTATIONS
    board = section(html, "leaderboard")
    for label in ("vanilla · torch", "ssgan · tf", "dcgan · torch"):
        assert f">{label}<" in board


def test_leaderboard_figures_are_mean_and_std_over_the_ok_seeds():
    rows = [r for r in crafted_rows(with_failures=False) if r.variant == "vanilla"]
    (torch_impl,) = [i for i in group_implementations(rows) if i.framework == "torch"]
    speeds = [r.images_per_s for r in rows if r.framework == "torch"]
    speed = torch_impl.stat("images_per_s")
    mean = sum(speeds) / 3
    std = (sum((s - mean) ** 2 for s in speeds) / 2) ** 0.5
    assert speed.n == 3
    assert speed.mean == pytest.approx(mean) and speed.std == pytest.approx(std)


def test_one_seed_spreads_throughput_over_its_timing_windows():
    rows = crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("tf",))
    (impl,) = group_implementations(rows)
    speed = impl.stat("images_per_s")
    assert speed.n == 1 and speed.spread_kind == "windows" and speed.std > 0
    assert impl.stat("fid_classifier").std is None  # no spread where there is nothing to use


def test_configuration_that_varies_is_named_in_the_label():
    rows = crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",))
    bigger = [dataclasses.replace(r, run_id=r.run_id + "-b256", batch_size=256) for r in rows]
    labels = sorted(impl.label for impl in group_implementations(rows + bigger))
    assert labels == ["vanilla · torch · batch 256", "vanilla · torch · batch 64"]


def test_failed_and_diverged_runs_are_listed_with_their_error(suite_report):
    _, html = suite_report
    failures = section(html, "failures")
    assert "RuntimeError: DefaultCPUAllocator: not enough memory" in failures
    assert "diverged at step 87" in failures
    assert "FloatingPointError: non-finite loss" in failures
    assert failures.count("<tr>") == 3 + 1  # a line per failure + header
    board = section(html, "leaderboard")
    assert "2 ok · 1 failed" in board and "2 ok · 1 diverged" in board


def test_row_text_is_escaped_never_run(suite_report):
    _, html = suite_report
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert MALICIOUS_ERROR not in html
    assert html.count("<script>") == 1  # the report's own sorting code


def test_null_metric_is_a_dash_with_its_reason(suite_report):
    _, html = suite_report
    board = section(html, "leaderboard")
    cell = re.search(
        r'<td class="num null"[^>]*title="vanilla&#39;s generator takes no label"', board
    )
    assert cell is not None
    assert re.search(r'<li id="note-\d+"[^>]*><b>cond acc</b> is empty: .*vanilla', board)


def test_fid_feature_space_is_named_and_inception_preferred():
    rows = crafted_rows(seeds=(0,), with_failures=False)
    space = feature_space(rows)
    assert space.fid == "fid_classifier" and "pytorch-fid weights not found" in space.reason
    rows[0] = dataclasses.replace(rows[0], fid_inception=12.5)
    assert feature_space(rows).fid == "fid_inception"


def test_environment_names_suite_device_versions_commit_and_feature_space(suite_report):
    _, html = suite_report
    header = html[: html.index('<section id="choose">')]
    for text in (
        "smoke",
        "digits",
        "Intel(R) Xeon(R) CPU @ 2.20GHz (cpu)",
        "torch 2.14.1",
        "tensorflow 2.21.0",
        "b73ebc7",
        "FID and KID in the data set&#39;s reference classifier",
    ):
        assert text in header


def test_report_shows_plots_samples_twins_and_choices(suite_report):
    _, html = suite_report
    assert html.count('<img class="plot" src="data:image/svg+xml;base64,') == 4
    assert section(html, "samples").count('src="data:image/png;base64,') == IMPLEMENTATIONS
    assert section(html, "frameworks").count("<tr>") == 5 + 1  # a line per variant + header
    choose = section(html, "choose")
    for question in ("Best quality", "Highest throughput", "Best quality per second of training"):
        assert question in choose
    assert "http://" not in html and "https://" not in html  # opens with no network


def test_folder_where_every_run_failed_renders(tmp_path):
    rows = [
        dataclasses.replace(
            r,
            status="failed",
            error="ImportError: no module named keras",
            images_per_s=None,
            images_per_s_windows=[],
            fid_classifier=None,
            parzen_ll=None,
            eval_history=[],
            history=[],
            sample_grid_png=None,
        )
        for r in crafted_rows(seeds=(0,), with_failures=False)
    ]
    html = report(write_folder(tmp_path, rows)).read_text()
    assert len(leaderboard_keys(html)) == IMPLEMENTATIONS
    assert section(html, "failures").count("ImportError: no module named keras") == IMPLEMENTATIONS
    assert "no implementation has this figure" in section(html, "choose")
    assert "no run of this implementation finished ok" in html


def test_corrupt_sample_grid_is_text_not_a_broken_image(tmp_path):
    rows = crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",))
    rows[0].sample_grid_png = "bm90IGEgcG5n"  # base64 of "not a png"
    html = report(write_folder(tmp_path, rows)).read_text()
    assert "no sample grid recorded" in section(html, "samples")


def test_verdicts_colour_each_line(tmp_path):
    rows = crafted_rows(seeds=(0,), variants=("vanilla",), with_failures=False)
    keys = {impl.framework: impl.key for impl in group_implementations(rows)}
    slower = IdentityComparison(
        Identity.of(rows[0]),
        Verdict.SLOWER,
        (Check("throughput", Verdict.SLOWER, change_pct=-31.0),),
    )
    same = IdentityComparison(Identity.of(rows[1]), Verdict.SAME)
    html = report(write_folder(tmp_path, rows), verdicts={keys["torch"]: slower, keys["tf"]: same})
    text = html.read_text()
    assert re.search(
        r'<td class="verdict verdict-bad" data-sort="slower" '
        r'title="slower; throughput slower -31.0%">slower</td>',
        text,
    )
    assert re.search(r'<td class="verdict verdict-neutral"[^>]*>same</td>', text)


def test_baseline_runs_the_regression_check_per_line(tmp_path):
    current = crafted_rows(seeds=(0, 1, 2), variants=("vanilla",), with_failures=False)
    baseline = [_twice_as_fast(r) for r in current]
    write_folder(tmp_path / "baseline", baseline)
    html = report(write_folder(tmp_path / "current", current), baseline=tmp_path / "baseline")
    text = html.read_text()
    assert len(re.findall(r'<td class="verdict verdict-bad"[^>]*>slower</td>', text)) == 2


def _twice_as_fast(row: Row) -> Row:
    return dataclasses.replace(
        row,
        images_per_s=row.images_per_s * 2,
        images_per_s_windows=[v * 2 for v in row.images_per_s_windows],
        images_per_s_relative=row.images_per_s_relative * 2,
    )


@pytest.mark.slow
def test_ten_thousand_rows_stay_fast_and_short(tmp_path):
    rows = crafted_rows(seeds=range(1000))
    for row in rows:
        if row.seed:  # one sample grid per implementation: this test is about rows
            row.sample_grid_png = None
    write_rows_fast(tmp_path, rows)
    start = time.perf_counter()
    html = report(tmp_path).read_text()
    elapsed_s = time.perf_counter() - start
    assert elapsed_s < 30, f"{len(rows)} rows took {elapsed_s:.1f} s"
    assert len(leaderboard_keys(html)) == IMPLEMENTATIONS
    assert 'id="raw-table"' not in html and "Download all 10,000 rows as CSV" in html
    assert len(html) < 8_000_000


# ----------------------------------------------------------------------------- judgement


def impl_with(label: str, values: tuple[float, ...]) -> Candidate:
    impl = Implementation(label, label, "vanilla", "torch", {}, [])
    mean = sum(values) / len(values)
    std = float(np.std(values, ddof=1)) if len(values) > 1 else None
    return Candidate(impl, Stat(mean, std, len(values)), values)


def test_card_calls_a_winner_by_welch_and_says_how_sure():
    # a = 1, 2, 3 and b = 7, 8, 9: 6 lower, Welch t = -7.35 on Hsu's 2 df, p = 0.018; the
    # 95% interval's half-width is t_{0.975, 2} x sqrt(2/3) = 4.303 x 0.816 = 3.51.
    clear = best_by("q", "FID", [impl_with("a", (1, 2, 3)), impl_with("b", (7, 8, 9))], True, "")
    assert clear.lead is Lead.CLEAR
    assert lead_text(clear) == "a beats b on FID: 6.00 ± 3.51 lower, p = 0.018 (3 seeds each)"


def test_card_corrects_its_comparisons_together():
    # a against b and against c: each 4.2 lower, p = 0.0358 alone, both 0.0716 after Holm.
    # b is tested first, at 0.05 / 2: its interval is t_{0.9875, 2} x sqrt(2/3) = 6.205 x
    # 0.816 = 5.07 wide each way.
    candidates = [impl_with(n, v) for n, v in [("a", (1, 2, 3)), ("b", (5.2, 6.2, 7.2))]]
    candidates.append(impl_with("c", (5.2, 6.2, 7.2)))
    close = best_by("q", "FID", candidates, True, "")
    assert close.lead is Lead.WITHIN_NOISE
    other, difference = close.deciding
    assert other.label == "b" and difference.comparisons == 2
    assert difference.p_adjusted == pytest.approx(2 * difference.p_value, rel=1e-12)
    assert lead_text(close) == (
        "too close to call: against b, 4.20 ± 5.07 lower, p = 0.072, within what 3 seeds each "
        "can resolve (smallest detectable: 6.54 FID; Holm over 2)"
    )


def test_card_with_one_seed_calls_nothing_and_says_why():
    one_seed = best_by("q", "FID", [impl_with("a", (20.0,)), impl_with("b", (25.0,))], True, "")
    assert one_seed.lead is Lead.NO_SPREAD
    assert lead_text(one_seed).startswith("too close to call: 1 seed on a side")


def test_higher_is_better_picks_the_largest():
    choice = best_by(
        "q",
        "images/s",
        [impl_with("a", (9.0, 10.0, 11.0)), impl_with("b", (50.0, 51.0))],
        False,
        "",
    )
    assert choice.pick.label == "b" and choice.runner_up.label == "a"
    assert choice.lead is Lead.CLEAR


def test_pareto_front_keeps_points_nothing_beats_on_both_axes():
    # (images/s, FID): c is slower and worse than b, so only a, b and d are on the front.
    points = [(100.0, 10.0), (500.0, 20.0), (400.0, 30.0), (900.0, 50.0)]
    assert pareto_front(points, lower_is_better=True) == [0, 1, 3]


def test_time_to_target_interpolates_between_evaluations():
    row = crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",))[0]
    row.eval_history = [
        {"step": 10, "train_s": 1.0, "fid_classifier": 100.0},
        {"step": 20, "train_s": 2.0, "fid_classifier": 60.0},
        {"step": 30, "train_s": 3.0, "fid_classifier": 40.0},
    ]
    # 80 lies halfway between 100 (1 s) and 60 (2 s): 1.5 s.
    assert time_to_target(row, "fid_classifier", 80.0, True) == pytest.approx(1.5)
    assert time_to_target(row, "fid_classifier", 120.0, True) == 1.0  # first evaluation
    assert time_to_target(row, "fid_classifier", 10.0, True) is None  # never reached


def test_twins_give_speed_ratio_and_quality_difference():
    rows = crafted_rows(variants=("ssgan",), with_failures=False)
    implementations = group_implementations(rows)
    quality = quality_metric(implementations, feature_space(rows))
    (twin,) = framework_twins(implementations, quality)
    torch_impl, tf_impl = twin.torch, twin.tf
    geometric_means = [
        np.exp(np.mean(np.log(impl.seed_values("images_per_s")))) for impl in (torch_impl, tf_impl)
    ]
    assert twin.speed_ratio == pytest.approx(geometric_means[0] / geometric_means[1], rel=1e-12)
    assert twin.speed.outcome is Outcome.LOWER  # 5,340 vs 7,982 images/s, 4% seed noise
    assert twin.speed.comparisons == 2  # speed and quality, corrected together
    assert twin.quality_difference == pytest.approx(
        torch_impl.stat("fid_classifier").mean - tf_impl.stat("fid_classifier").mean
    )


# ----------------------------------------------------------------------------- command line


def test_report_command_writes_the_file_and_prints_its_path(tmp_path):
    folder = write_folder(tmp_path / "results", crafted_rows(seeds=(0,)))
    output = tmp_path / "elsewhere" / "r.html"
    done = run_cli("report", str(folder), "-o", str(output))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == f"report: {output.resolve()}"
    assert len(leaderboard_keys(output.read_text())) == IMPLEMENTATIONS


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing", "does not exist"),
        ("empty", "has no rows"),
        ("unreadable", "not a readable row"),
        ("file", "is not a folder"),
    ],
)
def test_report_command_bad_input_is_one_line_and_exit_2(tmp_path, case, expected):
    folder = tmp_path / "results"
    if case == "empty":
        (folder / "rows").mkdir(parents=True)
    elif case == "unreadable":
        (folder / "rows").mkdir(parents=True)
        (folder / "rows" / "broken.json").write_text("{not json")
    elif case == "file":
        folder.write_text("rows?")
    done = run_cli("report", str(folder))
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr
    assert not (folder / "report.html").exists()


def test_report_function_refuses_an_empty_folder(tmp_path):
    with pytest.raises(ReportError, match="has no rows"):
        report(tmp_path)


def test_report_imports_neither_torch_nor_tensorflow(tmp_path):
    folder = write_folder(tmp_path, crafted_rows(seeds=(0,), variants=("vanilla",)))
    code = (
        "import sys; from reports import report; "
        f"report({str(folder)!r}); "
        "print(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


# ----------------------------------------------------------------------------- browser


@pytest.mark.browser
def test_report_in_headless_chromium(suite_report, tmp_path):
    if not CHROMIUM.exists():
        skip_unless_ci(f"{CHROMIUM} not found: apt-get install chromium (.ci/run does)")
    sync_api = import_or_skip_unless_ci(
        "playwright.sync_api", "playwright not installed: pip install -e '.[test]'"
    )
    path, _ = suite_report
    problems: list[str] = []
    dialogs: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda error: problems.append(str(error)))
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(path.as_uri(), wait_until="load")

            images = page.evaluate(
                "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            assert len(images) == 4 + IMPLEMENTATIONS  # plots + sample grids
            assert [alt for alt, complete, width in images if not (complete and width > 0)] == []

            rows = page.locator("#leaderboard-table tbody tr")
            assert rows.count() == IMPLEMENTATIONS
            before = _column(page, 0)
            page.click("#leaderboard-table th:has-text('images/s')")
            ascending = _numbers(_column(page, 2, attribute=True))
            assert ascending == sorted(ascending)
            assert _column(page, 0) != before
            page.click("#leaderboard-table th:has-text('images/s')")
            descending = _numbers(_column(page, 2, attribute=True))
            assert descending == sorted(descending, reverse=True)
            page.click("#leaderboard-table th:has-text('cond acc')")  # nulls sort last
            cond = _column(page, _header_index(page, "cond acc"), attribute=True)
            assert cond[:2] != ["", ""] and cond[-1] == ""
            assert rows.count() == IMPLEMENTATIONS

            page.click("#leaderboard-table th:has-text('FID')")  # back to the best-first order
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert dialogs == []  # the row whose error is a <script> ran nothing
    assert screenshot.stat().st_size > 10_000
    shutil.copyfile(screenshot, SCREENSHOT_COPY)


def _column(page, index: int, attribute: bool = False) -> list[str]:
    script = f"rows => rows.map(r => r.cells[{index}]" + (
        ".getAttribute('data-sort'))" if attribute else ".textContent.trim())"
    )
    return page.eval_on_selector_all("#leaderboard-table tbody tr", script)


def _header_index(page, text: str) -> int:
    headers = page.eval_on_selector_all(
        "#leaderboard-table thead th", "ths => ths.map(th => th.textContent.trim())"
    )
    return next(i for i, header in enumerate(headers) if header.startswith(text))


def _numbers(values: list[str]) -> list[float]:
    return [float(v) for v in values if v != ""]


# ----------------------------------------------------------------------------- aggregation


def test_seed_stats_use_ok_runs_and_finite_values_only():
    rows = crafted_rows(seeds=(0, 1, 2, 3), variants=("vanilla",), frameworks=("torch",))
    rows = [dataclasses.replace(r, fid_classifier=10.0 * (r.seed + 1)) for r in rows]
    rows[1] = dataclasses.replace(rows[1], status="failed", fid_classifier=1000.0)
    rows[2] = dataclasses.replace(rows[2], fid_classifier=float("inf"))
    (impl,) = group_implementations(rows)
    fid = impl.stat("fid_classifier")  # seeds 0 and 3: 10 and 40
    assert (fid.mean, fid.std, fid.n) == (25.0, 21.213203435596427, 2)
    assert impl.status_counts == {"ok": 3, "failed": 1}
    assert impl.stat("cond_accuracy").n == 0
    assert impl.notes["cond_accuracy"] == "vanilla's generator takes no label"


def test_sample_grid_rows_are_classes_when_the_generator_took_labels_whatever_its_name():
    rows = crafted_rows(seeds=(0,), variants=("conditional", "vanilla"), frameworks=("torch",))
    renamed = [dataclasses.replace(r, variant=f"my{r.variant}") for r in rows]
    grids = {grid.label: grid.conditional for grid in sample_grids(group_implementations(renamed))}
    assert grids == {"myconditional · torch": True, "myvanilla · torch": False}


def test_leaderboard_and_quality_plot_show_the_references(tmp_path):
    rows = crafted_rows(variants=("dcgan",), with_failures=False)
    html = report(write_folder(tmp_path, rows)).read_text()
    footer = html[html.index("<tfoot>") : html.index("</tfoot>")]
    real = footer[footer.index('data-reference="real"') : footer.index('data-reference="noise"')]
    noise = footer[footer.index('data-reference="noise"') :]
    assert "training images (floor" in real and ">9.12<" in real and ">851.6<" in real
    assert ">100.0%<" in real  # the classifier reads every training image as its label
    assert "uniform noise (ceiling" in noise and ">2,681.50<" in noise and ">9.9%<" in noise
    figure = html[html.index('id="plot-quality_vs_time"') :]
    uri = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', figure)
    svg = base64.b64decode(uri.group(1)).decode()
    assert "training images (floor" in svg and "uniform noise (ceiling" in svg
