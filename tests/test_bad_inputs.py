"""One table of bad inputs across the command line, suite files, data files, result files and
the public functions of metrics/: each is refused in one line naming the bad value and
what is allowed, and nothing is written.

Command-line cases call `bench.__main__.main` in this process (what `python -m bench`
runs, minus the interpreter start-up); each must return exit status 2 with exactly one
line on stderr and leave no results folder. Library cases must raise ValueError (or warn,
for a rank-deficient covariance) with the message. tests/test_cli.py, test_compare.py,
test_report.py, test_parzen.py and test_fid.py hold more cases of the kinds they test.
"""

from __future__ import annotations

import gzip
import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from bench.__main__ import main
from bench.executors.local import has_nvidia_gpu
from bench.results import write_row
from metrics.fid import (
    RankDeficientCovarianceWarning,
    fid_from_features,
    fid_statistics,
    frechet_distance,
    kid_from_features,
)
from metrics.parzen import parzen_log_likelihood_per_point
from metrics.probe import linear_probe_accuracy
from metrics.semisup import classification_accuracy
from tests.suite_files import write_suite
from tests.test_compare import make_row


@dataclass(frozen=True)
class BadInput:
    kind: str  # cli, suite, data, results, metrics
    name: str
    make: Callable[[Path], list[str] | Callable[[], object]]  # argv for main, or a call
    expected: str  # in the one line (CLI) or in the ValueError / warning (library)


def run_args(tmp: Path, *extra: str, **suite_keys: object) -> list[str]:
    """`run` of a tiny suite with `suite_keys`, into tmp/out (which must never appear)."""
    suite = write_suite(tmp, "bad", **suite_keys)
    return ["run", "--suite", str(suite), "--out", str(tmp / "out"), *extra]


def data_args(tmp: Path, dataset: str) -> list[str]:
    return run_args(tmp, "--data-dir", str(tmp / "data"), dataset=dataset)


def mnist(tmp: Path, **changes: np.ndarray) -> list[str]:
    """A folder with an mnist.npz whose arrays are good except `changes`."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (10_050, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, 10_050).astype(np.uint8),
        "x_test": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, 20).astype(np.uint8),
        **changes,
    }
    (tmp / "data").mkdir()
    np.savez(tmp / "data" / "mnist.npz", **{k: v for k, v in arrays.items() if v is not None})
    return data_args(tmp, "mnist")


class TouchOnUnpickle:
    """A pickle that, if it were ever loaded, would create a file: proof it never is."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def mnist_with_pickle(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    payload = np.array([TouchOnUnpickle(tmp / "unpickled")], dtype=object)
    np.savez(
        tmp / "data" / "mnist.npz", x_train=payload, y_train=payload, x_test=payload, y_test=payload
    )
    return data_args(tmp, "mnist")


def mnist_not_npz(tmp: Path) -> list[str]:
    (tmp / "data").mkdir()
    (tmp / "data" / "mnist.npz").write_bytes(pickle.dumps({"x_train": 1}))
    return data_args(tmp, "mnist")


def fashion_not_gzip(tmp: Path) -> list[str]:
    from bench.datasets import FASHION_FILES

    (tmp / "data").mkdir()
    for name in FASHION_FILES:
        (tmp / "data" / name).write_bytes(b"plain bytes, not gzip")
    return data_args(tmp, "fashion_mnist")


def fashion_truncated(tmp: Path) -> list[str]:
    from bench.datasets import FASHION_FILES

    (tmp / "data").mkdir()
    for name in FASHION_FILES:
        with gzip.open(tmp / "data" / name, "wb") as stream:
            stream.write(bytes([0, 0, 0x08, 1, 0, 0, 0, 9]) + b"\x01\x02")  # says 9, holds 2
    return data_args(tmp, "fashion_mnist")


def cifar_wrong_size(tmp: Path) -> list[str]:
    from bench.datasets import CIFAR_DIR, CIFAR_TEST_FILE, CIFAR_TRAIN_FILES

    folder = tmp / "data" / CIFAR_DIR
    folder.mkdir(parents=True)
    for name in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE):
        (folder / name).write_bytes(bytes(1000))
    return data_args(tmp, "cifar10")


def out_under_a_file(tmp: Path) -> list[str]:
    (tmp / "a-file").write_text("not a folder")
    suite = write_suite(tmp, "bad")
    return ["run", "--suite", str(suite), "--out", str(tmp / "a-file" / "out")]


def corrupt_fid_weights(tmp: Path) -> list[str]:
    (tmp / "weights.pth").write_bytes(b"PK\x03\x04 truncated zip, not a state_dict")
    return run_args(tmp, "--fid-weights", str(tmp / "weights.pth"))


def results_with(tmp: Path, bad_name: str, bad_text: str) -> Path:
    folder = tmp / "results"
    write_row(folder, make_row())
    (folder / "rows" / bad_name).write_text(bad_text)
    return folder


OTHER_SCHEMA = '{"schema_version": 0, "run_id": "old"}'


def only_other_schema(tmp: Path) -> Path:
    (tmp / "results" / "rows").mkdir(parents=True)
    (tmp / "results" / "rows" / "old.json").write_text(OTHER_SCHEMA)
    return tmp / "results"


def report_into_a_file(tmp: Path) -> list[str]:
    from tests.report_rows import crafted_rows

    for row in crafted_rows(seeds=(0,), variants=("vanilla",), frameworks=("torch",)):
        write_row(tmp / "results", row)
    (tmp / "a-file").write_text("not a folder")
    return ["report", str(tmp / "results"), "-o", str(tmp / "a-file" / "report.html")]


def compare_args(tmp: Path, baseline: Path | None = None, current: Path | None = None) -> list[str]:
    """`compare` where the side not given is a clean results folder of one good row."""
    clean = tmp / "clean"
    write_row(clean, make_row())
    return ["compare", str(baseline or clean), str(current or clean)]


FEATURES = np.random.default_rng(0).standard_normal((10, 4))
NAN_FEATURES = np.where(np.eye(10, 4) == 1, np.nan, 1.0)
SEPARABLE = np.repeat(np.eye(2), 5, axis=0)


BAD_INPUTS = [
    # ------------------------------------------------------------------ suite files
    *(BadInput("suite", f"name {name}", lambda t, name=name: run_args(t, name=name),
               f"suite name {name!r} must be a plain folder name")
      for name in ("../escape", "/tmp/elsewhere", "a/../../b", "..")),
    BadInput("suite", "name with a backslash", lambda t: run_args(t, name="a\\..\\b"),
             "must be a plain folder name: no '/' or '\\'"),
    BadInput("suite", "deterministic = 'yes'", lambda t: run_args(t, deterministic="yes"),
             "deterministic = 'yes'; expected true or false"),
    BadInput("suite", "max_mem_mb = 0", lambda t: run_args(t, max_mem_mb=0),
             "max_mem_mb = 0; must be > 0"),
    BadInput("suite", "max_mem_mb = '4G'", lambda t: run_args(t, max_mem_mb="4G"),
             "max_mem_mb = '4G'; expected an integer number of MiB"),
    BadInput("suite", "train_budget_s = 0", lambda t: run_args(t, train_budget_s=0),
             "train_budget_s = 0; must be a finite number of seconds > 0"),
    BadInput("suite", "train_budget_s = '1h'", lambda t: run_args(t, train_budget_s="1h"),
             "train_budget_s = '1h'; expected a number of seconds"),
    BadInput("suite", "eval_samples = 1", lambda t: run_args(t, eval_samples=1),
             "eval_samples = 1; must be >= 2"),
    BadInput("suite", "timeout_s = 0", lambda t: run_args(t, timeout_s=0),
             "timeout_s = 0; must be > 0"),
    BadInput("suite", "negative seed", lambda t: run_args(t, seeds=[-1]),
             "seeds [-1]: each must be >= 0"),
    BadInput("suite", "eval_points past the windows", lambda t: run_args(t, eval_points=6),
             "eval_points = 6; must be between 1 and timing_windows = 5"),
    BadInput("suite", "inception_fid = 1", lambda t: run_args(t, inception_fid=1),
             "inception_fid = 1; expected true or false"),
    # ------------------------------------------------------------------ command line
    BadInput("cli", "--out inside a file", out_under_a_file, "/a-file/out cannot be written"),
    BadInput("cli", "--fid-weights missing",
             lambda t: run_args(t, "--fid-weights", str(t / "none.pth")),
             "--fid-weights " + "{tmp}/none.pth: no such file"),
    BadInput("cli", "--fid-weights corrupt", corrupt_fid_weights,
             "--fid-weights {tmp}/weights.pth: not pytorch-fid's Inception weights"),
    BadInput("cli", "--eval-samples 1", lambda t: run_args(t, "--eval-samples", "1"),
             "eval_samples = 1; must be >= 2"),
    BadInput("cli", "--steps 0", lambda t: run_args(t, "--steps", "0"),
             "steps = 0 leaves -5 timed steps"),
    # ------------------------------------------------------------------ data files
    BadInput("data", "mnist images 28x27",
             lambda t: mnist(t, x_train=np.zeros((10_050, 28, 27), np.uint8)),
             "mnist: train images have shape (28, 27, 1) per image; expected (28, 28, 1)"),
    BadInput("data", "mnist float pixels",
             lambda t: mnist(t, x_test=np.zeros((20, 28, 28), np.float32)),
             "mnist: test images have dtype float32; expected uint8 pixels"),
    BadInput("data", "mnist label 10",
             lambda t: mnist(t, y_train=np.full(10_050, 10, np.uint8)),
             "mnist: train labels span 10..10; allowed 0..9"),
    BadInput("data", "mnist float labels",
             lambda t: mnist(t, y_test=np.zeros(20, np.float64)),
             "mnist: test labels have shape (20,) and dtype float64; expected a 1-d array"),
    BadInput("data", "mnist.npz without y_test", lambda t: mnist(t, y_test=None),
             "mnist.npz: no array 'y_test'; expected arrays x_train, y_train, x_test, y_test"),
    BadInput("data", "mnist.npz is a pickle", mnist_not_npz,
             "mnist.npz: holds pickled data, which is never loaded (it could run code)"),
    BadInput("data", "mnist.npz holds pickled objects", mnist_with_pickle,
             "mnist.npz: holds pickled data, which is never loaded (it could run code)"),
    BadInput("data", "fashion idx not gzip", fashion_not_gzip,
             "train-images-idx3-ubyte.gz: not a readable gzip file"),
    BadInput("data", "fashion idx truncated", fashion_truncated,
             "header says shape (9,) but holds 2 values"),
    BadInput("data", "cifar batch of 1000 bytes", cifar_wrong_size,
             "data_batch_1.bin: 1000 bytes is not a whole number of CIFAR-10 records"),
    # ------------------------------------------------------------------ result files
    BadInput("results", "report: every row of another schema",
             lambda t: ["report", str(only_other_schema(t))],
             "has no readable rows: {tmp}/results/rows/old.json: schema_version 0"),
    BadInput("results", "report -o inside a file", report_into_a_file,
             "cannot write the report to {tmp}/a-file/report.html"),
    BadInput("results", "compare: a truncated current row",
             lambda t: compare_args(t, current=results_with(t, "cut.json", '{"run_id": "cu')),
             "{tmp}/results/rows/cut.json: not a readable row"),
    BadInput("results", "compare: a baseline row of schema 0",
             lambda t: compare_args(t, baseline=results_with(t, "old.json", OTHER_SCHEMA)),
             "{tmp}/results/rows/old.json: schema_version 0; this ganbench reads version 1"),
    BadInput("results", "save-baseline of a truncated row",
             lambda t: ["save-baseline", str(results_with(t, "cut.json", "{")),
                        str(t / "baseline.json")],
             "{tmp}/results/rows/cut.json: not a readable row"),
    BadInput("results", "compare: a missing current folder",
             lambda t: compare_args(t, current=t / "missing"),
             "{tmp}/missing: not a readable results folder or baseline"),
    # ------------------------------------------------------------------ metrics
    BadInput("metrics", "FID: NaN in features",
             lambda t: lambda: fid_from_features(NAN_FEATURES, FEATURES),
             "features_a contains nan: values must be finite"),
    BadInput("metrics", "FID: feature dims differ",
             lambda t: lambda: fid_from_features(FEATURES, FEATURES[:, :3]),
             "features_b has D=3 features: must match D=4"),
    BadInput("metrics", "FID: inf in a covariance",
             lambda t: lambda: frechet_distance(np.zeros(2), np.full((2, 2), np.inf),
                                                np.zeros(2), np.eye(2)),
             "sigma1 contains inf"),
    BadInput("metrics", "KID: NaN in features",
             lambda t: lambda: kid_from_features(FEATURES, NAN_FEATURES),
             "features_b contains nan"),
    BadInput("metrics", "Parzen: points of another dimension",
             lambda t: lambda: parzen_log_likelihood_per_point(FEATURES, FEATURES[:, :3], 0.5),
             "points has D=3: must match samples' D=4"),
    BadInput("metrics", "Parzen: NaN sigma",
             lambda t: lambda: parzen_log_likelihood_per_point(FEATURES, FEATURES, float("nan")),
             "sigma=nan: every bandwidth must be finite and > 0"),
    BadInput("metrics", "probe: NaN features",
             lambda t: lambda: linear_probe_accuracy(NAN_FEATURES, np.arange(10) % 2,
                                                     FEATURES, np.arange(10) % 2),
             "train features hold NaN or infinite values"),
    BadInput("metrics", "probe: one class",
             lambda t: lambda: linear_probe_accuracy(FEATURES, np.zeros(10, int),
                                                     FEATURES, np.zeros(10, int)),
             "train labels hold one class; a probe needs at least two"),
    BadInput("metrics", "accuracy: label out of range",
             lambda t: lambda: classification_accuracy(SEPARABLE, np.full(10, 2)),
             "labels span 2..2; allowed 0..1"),
    BadInput("metrics", "FID: fewer samples than dims (warning)",
             lambda t: lambda: fid_statistics(FEATURES[:3]),
             "FID statistics from N=3 samples of D=4 features: the covariance has rank <= N-1"),
]  # fmt: skip


@pytest.mark.parametrize("case", BAD_INPUTS, ids=[f"{c.kind}: {c.name}" for c in BAD_INPUTS])
def test_bad_input_is_refused_in_one_line_naming_it(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a default results/ folder would land here, and be seen
    made = case.make(tmp_path)
    expected = case.expected.replace("{tmp}", str(tmp_path))
    if callable(made):
        _check_library_call(made, expected, warns="(warning)" in case.name)
        return
    capsys.readouterr()
    status = main(made)
    captured = capsys.readouterr()
    assert status == 2, (captured.out, captured.err)
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"python -m bench {made[0]}: error: "), lines[0]
    assert expected in lines[0], lines[0]
    assert captured.out == ""
    assert not (tmp_path / "out").exists() and not (tmp_path / "results" / "report.html").exists()
    assert not (tmp_path / "unpickled").exists()  # no data file was ever unpickled


def _check_library_call(call: Callable[[], object], expected: str, warns: bool) -> None:
    if warns:
        with pytest.warns(RankDeficientCovarianceWarning) as caught:
            call()
        assert expected in str(caught[0].message)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a refusal, not a warning and a made-up number
        with pytest.raises(ValueError) as raised:
            call()
    message = str(raised.value)
    assert "\n" not in message and expected in message, message


@pytest.mark.skipif(has_nvidia_gpu(), reason="this machine has a GPU: cuda is not bad input here")
def test_device_cuda_on_a_machine_without_a_gpu_is_one_line(tmp_path, capsys):
    assert main(run_args(tmp_path, "--device", "cuda")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "python -m bench run: error: device 'cuda' requested but this machine has no NVIDIA "
        "GPU; use cpu"
    ]
    assert not (tmp_path / "out").exists()


def test_the_table_spans_every_kind_of_input_with_at_least_25_cases():
    kinds = {case.kind for case in BAD_INPUTS}
    assert kinds == {"suite", "cli", "data", "results", "metrics"}
    assert len(BAD_INPUTS) >= 25
