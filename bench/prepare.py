"""What a suite needs before its runs start, done once, in a process of its own.

    python -m bench.prepare REQUEST_JSON

The reference classifier is trained (or its cache checked) once here, not by every
worker at the same time; a given Inception weights file is checked, and missing ones
fetched once when the suite wants the Inception FID. These use torch, so they run in
this child process: the driver itself imports no framework. A bad input is one line on
stdout and exit status 2; warnings and notes go to stderr as they happen.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from bench.datasets import load_dataset

EXIT_BAD_INPUT = 2


@dataclass(frozen=True)
class PrepareRequest:
    dataset: str
    data_dir: str | None
    cache_dir: str
    fid_weights: str | None  # a weights file to check; None: the torch hub cache
    inception_fid: bool  # the suite wants the Inception FID

    def to_json(self) -> str:
        return json.dumps(asdict(self))


class BadInputError(ValueError):
    """An input the suite cannot run with; its message is the one line the user sees."""


def prepare(request: PrepareRequest) -> None:
    """Check the weights file, train or check the classifier, fetch Inception weights."""
    from bench.evaluation import load_reference_classifier
    from metrics.classifier import ClassifierCacheWarning

    inception, missing = _inception_module()
    if request.fid_weights is not None:
        path = Path(request.fid_weights)
        if inception is None:
            raise BadInputError(f"--fid-weights {path}: {missing}")
        if not path.is_file():
            raise BadInputError(f"--fid-weights {path}: no such file")
        try:
            inception.check_weights_file(path)
        except ValueError as error:
            raise BadInputError(f"--fid-weights {error}") from None
    dataset = load_dataset(request.dataset, Path(request.data_dir) if request.data_dir else None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ClassifierCacheWarning)
        load_reference_classifier(dataset, Path(request.cache_dir))
    for warning in caught:  # a corrupt cache is rebuilt, and said in one line
        if issubclass(warning.category, ClassifierCacheWarning):
            print(f"warning: {warning.message}", file=sys.stderr)
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    wants_download = request.inception_fid and request.fid_weights is None
    offline = bool(os.environ.get("GANBENCH_OFFLINE"))
    if wants_download and inception is None:
        print(f"note: {missing}; fid_inception will be null", file=sys.stderr)
    elif wants_download and not offline and not inception.InceptionFeatures.available()[0]:
        fetched, reason = inception.fetch_weights()
        if not fetched:
            print(f"note: {reason}; fid_inception will be null", file=sys.stderr)


def _inception_module() -> tuple[ModuleType | None, str]:
    """metrics.inception, or None and why not: pytorch-fid is an extra (`.[fid]`)."""
    try:
        import metrics.inception as inception
    except ModuleNotFoundError as error:
        from bench.evaluation import pytorch_fid_missing_reason

        return None, pytorch_fid_missing_reason(error)
    return inception, ""


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.prepare REQUEST_JSON", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        prepare(PrepareRequest(**json.loads(argv[0])))
    except BadInputError as error:
        print(error)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
