"""A labelled variant added from outside the tree runs through suite, report and compare.

tests/plugins/labelled.py is one spec entry (label_use="conditional") and two small
implementation files; nothing in bench/ or reports/ names it. The suite runs from a
driver process that is checked afterwards: it imported neither torch nor tensorflow
(the workers and bench.prepare did the framework work).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.results import Row, read_rows
from implementations.spec import Dense, network_shapes
from tests.conftest import REPO_ROOT, cli_environment
from tests.plugins.labelled_spec import VARIANT, labelled_mlp_spec
from tests.suite_files import write_suite

PLUGIN = "tests.plugins.labelled"
# The driver: `python -m bench run` as main() in this process, then what it imported.
DRIVER = """
import json, sys
from bench.__main__ import main
status = main(sys.argv[2:])
frameworks = sorted(m for m in ("torch", "tensorflow", "keras") if m in sys.modules)
open(sys.argv[1], "w").write(json.dumps({"status": status, "frameworks": frameworks}))
"""


@dataclass(frozen=True)
class PluginRun:
    results: Path
    driver: dict
    rows: list[Row]
    stderr: str


def run_with_plugin(*args: str) -> subprocess.CompletedProcess:
    env = {**cli_environment(), "GANBENCH_PLUGINS": PLUGIN}
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def plugin_run(tmp_path_factory) -> PluginRun:
    folder = tmp_path_factory.mktemp("plugin")
    suite = write_suite(
        folder, "labelled", variants=[VARIANT], frameworks=["torch", "tf"], eval_points=2
    )
    results, said = folder / "out", folder / "driver.json"
    done = run_with_plugin(
        "-c", DRIVER, str(said), "run", "--suite", str(suite), "--out", str(results)
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return PluginRun(results, json.loads(said.read_text()), read_rows(results), done.stderr)


@pytest.mark.slow  # the first of the module fixture's tests: a suite of both frameworks
def test_the_driver_of_a_local_suite_imports_no_framework(plugin_run):
    assert plugin_run.driver == {"status": 0, "frameworks": []}


def test_a_labelled_plugin_variant_trains_in_both_frameworks_with_its_labels(plugin_run, digits):
    rows = {row.framework: row for row in plugin_run.rows}
    assert sorted(rows) == ["tf", "torch"]
    spec = labelled_mlp_spec(digits.image_shape, digits.num_classes, "tiny")
    pixels, classes = math.prod(digits.image_shape), digits.num_classes
    g, d = (
        dense_costs(spec.generator, spec.generator_input),
        dense_costs(spec.discriminator, spec.discriminator_input),
    )
    for framework, row in rows.items():
        assert (row.status, row.label_use) == ("ok", "conditional"), (framework, row.error)
        # labels reached G and D: the one-hot widens both first layers, and G's label path is
        # evaluated (samples asked for class c read as c); D reads labels, so no probe
        assert 0.0 <= row.cond_accuracy <= 1.0
        assert row.probe_accuracy is None
        assert "takes the label as input" in row.metric_notes["probe_accuracy"]
        assert row.ssl_accuracy is None and row.ssl_labels is None
        assert row.flops_per_step == 4 * sum(g) + 8 * sum(d) - 2 * d[0] - g[0]
        assert (row.params_generator, row.params_discriminator) == (
            (32 + classes) * 48 + 48 + 48 * pixels + pixels,
            (pixels + classes) * 48 + 48 + 48 + 1,
        )


def test_the_report_shows_the_plugin_variant_with_a_class_per_grid_row(plugin_run):
    html = (plugin_run.results / "report.html").read_text()
    captions = [line for line in html.splitlines() if "<figcaption>" in line]
    plugin_captions = [line for line in captions if f"{VARIANT} · " in line]
    assert len(plugin_captions) == 2, captions
    assert all("row r = class r" in line for line in plugin_captions)


def test_compare_holds_the_plugin_variant_against_itself(plugin_run):
    results = str(plugin_run.results)
    done = run_with_plugin("-m", "bench", "compare", results, results)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.split()[1:2] and VARIANT in line]
    assert [line.split()[0] for line in lines] == ["same", "same"], done.stdout


def dense_costs(layers, input_shape, batch_size: int = 64) -> list[int]:
    """2*B*in*out for every Dense layer of a network, in order."""
    return [
        2 * batch_size * inputs[-1] * layer.units
        for layer, inputs, _ in network_shapes(layers, input_shape)
        if isinstance(layer, Dense)
    ]


def test_collecting_the_tests_registers_no_plugin_variant():
    # Every pytest-xdist worker collects every test module; a test module that imports a
    # plugin module registers its variant there, and every "all variants" suite in that
    # worker then grows a row (CI failed 13 tests that way). The plugins register only in
    # the processes that GANBENCH_PLUGINS names them to.
    from implementations.registry import registrations
    from implementations.spec import SPEC_BUILDERS

    builders = {variant: builder.__module__ for variant, builder in SPEC_BUILDERS.items()}
    assert all(module.startswith("implementations.") for module in builders.values()), builders
    targets = [registration.target for registration in registrations()]
    assert all(target.startswith("implementations.") for target in targets), targets
