"""Data sets as numpy arrays, one function each, all with the same contract.

Every loader returns a `Dataset`: train/valid/test images NHWC float32 in
[-1, 1], integer labels in [0, num_classes), and a name. Files are parsed
with numpy only (no pickle, no framework import); keras.datasets is used
solely to download a missing file into its cache for a user with a network.
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class DatasetUnavailableError(FileNotFoundError):
    """A data set's file is missing and could not be downloaded."""


@dataclass(frozen=True)
class Dataset:
    name: str
    train_images: np.ndarray  # (N, H, W, C) float32 in [-1, 1]
    train_labels: np.ndarray  # (N,) int64 in [0, num_classes)
    valid_images: np.ndarray
    valid_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    num_classes: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        height, width, channels = self.train_images.shape[1:]
        return (int(height), int(width), int(channels))


def digits(data_dir: Path | None = None) -> Dataset:
    """scikit-learn's 1,797 real 8x8 handwritten digits, shaped like MNIST (28x28x1).

    Upsampling mimics how MNIST itself was made: each 8x8 digit is scaled
    bilinearly (scipy.ndimage.zoom, order 1) to 20x20 and centred in a 28x28
    frame with a 4-pixel zero border. Pixel values 0..16 map to [-1, 1].
    Split: a fixed stratified 60/20/20 train/valid/test (random_state=0), so
    every class appears in every split in proportion. The data ships with
    scikit-learn; `data_dir` is ignored.
    """
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    small = bunch.images.astype(np.float64)  # (1797, 8, 8), values 0..16
    scaled = np.clip(zoom(small, (1, 2.5, 2.5), order=1), 0.0, 16.0)  # (1797, 20, 20)
    framed = np.pad(scaled, ((0, 0), (4, 4), (4, 4)))
    images = (framed / 8.0 - 1.0).astype(np.float32)[..., np.newaxis]
    labels = bunch.target.astype(np.int64)
    indices = np.arange(len(labels))
    train_idx, rest_idx = train_test_split(indices, test_size=0.4, stratify=labels, random_state=0)
    valid_idx, test_idx = train_test_split(
        rest_idx, test_size=0.5, stratify=labels[rest_idx], random_state=0
    )
    return Dataset(
        "digits",
        images[train_idx],
        labels[train_idx],
        images[valid_idx],
        labels[valid_idx],
        images[test_idx],
        labels[test_idx],
        num_classes=10,
    )


# --- MNIST-style data sets: standard files, parsed here, downloaded by keras -------------

MNIST_FILE = "mnist.npz"
FASHION_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
CIFAR_DIR = "cifar-10-batches-bin"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_TEST_FILE = "test_batch.bin"
KERAS_CACHE = Path.home() / ".keras" / "datasets"


def mnist(data_dir: Path | None = None) -> Dataset:
    """MNIST (28x28x1): `mnist.npz` as keras.datasets caches it; last 10,000 train as valid."""
    folder = _locate(
        "mnist",
        data_dir,
        [MNIST_FILE],
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    )
    x_train, y_train, x_test, y_test = _read_npz(folder / MNIST_FILE, MNIST_ARRAYS)
    return _from_uint8(
        "mnist", x_train[..., None], y_train, x_test[..., None], y_test, 10_000, (28, 28, 1)
    )


MNIST_ARRAYS = ("x_train", "y_train", "x_test", "y_test")


def _read_npz(path: Path, names: tuple[str, ...]) -> list[np.ndarray]:
    """The named arrays of an .npz file; never unpickled, so a file cannot run code."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [name for name in names if name not in arrays.files]
            if missing:
                raise ValueError(f"no array {missing[0]!r}; expected arrays {', '.join(names)}")
            return [arrays[name] for name in names]
    except (OSError, EOFError, zipfile.BadZipFile, TypeError, AttributeError) as error:
        # TypeError/AttributeError: a plain .npy array where an .npz archive belongs
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    except ValueError as error:
        if "pickle" in str(error).lower():  # numpy refuses to unpickle, whatever its wording
            raise ValueError(
                f"{path}: holds pickled data, which is never loaded (it could run code); "
                "expected an .npz of plain numeric arrays"
            ) from None
        raise ValueError(f"{path}: {str(error).splitlines()[0]}") from None


def fashion_mnist(data_dir: Path | None = None) -> Dataset:
    """Fashion-MNIST (28x28x1): the four idx .gz files; last 10,000 train as valid."""
    folder = _locate(
        "fashion_mnist",
        data_dir,
        list(FASHION_FILES),
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    )
    x_train, y_train, x_test, y_test = (_read_idx(folder / name) for name in FASHION_FILES)
    return _from_uint8(
        "fashion_mnist", x_train[..., None], y_train, x_test[..., None], y_test, 10_000, (28, 28, 1)
    )


def cifar10(data_dir: Path | None = None) -> Dataset:
    """CIFAR-10 (32x32x3): the binary version (cifar-10-batches-bin); last 5,000 train as valid.

    The binary files are read with numpy, never unpickled, so a file from
    someone else cannot run code.
    """
    names = [f"{CIFAR_DIR}/{n}" for n in (*CIFAR_TRAIN_FILES, CIFAR_TEST_FILE)]
    folder = _locate(
        "cifar10", data_dir, names, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
    )
    train = [_read_cifar_bin(folder / CIFAR_DIR / name) for name in CIFAR_TRAIN_FILES]
    x_test, y_test = _read_cifar_bin(folder / CIFAR_DIR / CIFAR_TEST_FILE)
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return _from_uint8("cifar10", x_train, y_train, x_test, y_test, 5_000, (32, 32, 3))


def _from_uint8(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    valid_count: int,
    image_shape: tuple[int, int, int],
) -> Dataset:
    """Scale 0..255 pixels to [-1, 1] and hold out the last `valid_count` train images."""
    for what, array in (("train images", x_train), ("test images", x_test)):
        if array.dtype != np.uint8:
            raise ValueError(f"{name}: {what} have dtype {array.dtype}; expected uint8 pixels")
        if array.ndim != 4 or tuple(array.shape[1:]) != image_shape:
            raise ValueError(
                f"{name}: {what} have shape {tuple(array.shape[1:])} per image; "
                f"expected {image_shape} (height, width, channels)"
            )
    for what, array in (("train labels", y_train), ("test labels", y_test)):
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(
                f"{name}: {what} have shape {array.shape} and dtype {array.dtype}; "
                "expected a 1-d array of integer class labels"
            )
    if len(x_train) <= valid_count:
        raise ValueError(
            f"{name}: {len(x_train)} training images; need more than {valid_count} (valid split)"
        )

    def scale(x: np.ndarray) -> np.ndarray:
        return (x.astype(np.float32) / 127.5 - 1.0).astype(np.float32)

    split = len(x_train) - valid_count
    return Dataset(
        name,
        scale(x_train[:split]),
        y_train[:split].astype(np.int64),
        scale(x_train[split:]),
        y_train[split:].astype(np.int64),
        scale(x_test),
        y_test.astype(np.int64),
        num_classes=10,
    )


def _read_idx(path: Path) -> np.ndarray:
    """An idx file (LeCun's MNIST format), gzip-compressed."""
    try:
        with gzip.open(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: not a readable gzip file ({error})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {data.size} values")
    return data.reshape(shape)


CIFAR_RECORD_BYTES = 1 + 32 * 32 * 3


def _read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3,072 pixel bytes (CHW)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD_BYTES:
        raise ValueError(f"{path}: {raw.size} bytes is not a whole number of CIFAR-10 records")
    records = raw.reshape(-1, CIFAR_RECORD_BYTES)
    images = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), records[:, 0].astype(np.int64)


def _locate(name: str, data_dir: Path | None, files: list[str], origin: str) -> Path:
    """The folder holding a data set's files: data_dir, or the keras cache (downloading there).

    With data_dir given nothing is downloaded: a missing file is an error
    naming it. Without, the keras cache is used, and filled by keras (which
    caches what it fetches) when a network is there.
    """
    if data_dir is not None:
        folder = Path(data_dir)
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            raise DatasetUnavailableError(
                f"{name}: {folder / missing[0]} not found; put the standard file(s) "
                f"{', '.join(files)} (from {origin}) in {folder}"
            )
        return folder
    cache = KERAS_CACHE / KERAS_CACHE_SUBDIR[name]
    if not all((cache / f).is_file() for f in files):
        try:
            _download_with_keras(name, origin)
        except Exception as error:  # any failure to fetch: offline, proxy, HTTP error
            raise DatasetUnavailableError(
                f"{name}: {files[0]} is not in {cache} and could not be downloaded "
                f"({type(error).__name__}); put the standard file(s) {', '.join(files)} "
                f"(from {origin}) in a folder and pass --data-dir FOLDER"
            ) from error
    missing = [f for f in files if not (cache / f).is_file()]
    if missing:
        raise DatasetUnavailableError(
            f"{name}: {cache / missing[0]} missing after download; pass --data-dir FOLDER"
        )
    return cache


# Where keras.datasets / keras.utils.get_file leave each data set under ~/.keras/datasets.
KERAS_CACHE_SUBDIR = {"mnist": "", "fashion_mnist": "fashion-mnist", "cifar10": "cifar-10-binary"}


def _download_with_keras(name: str, origin: str) -> None:
    # torch._dynamo before keras: importing it (as torch's first optimiser does) after
    # tensorflow segfaults. Only here, so a run with its data at hand pays for neither.
    import torch._dynamo  # noqa: F401

    # isort: split
    import keras

    if name == "cifar10":
        keras.utils.get_file(fname=KERAS_CACHE_SUBDIR[name], origin=origin, extract=True)
    else:
        getattr(keras.datasets, name).load_data()


DATASETS: dict[str, Callable[[Path | None], Dataset]] = {
    "digits": digits,
    "mnist": mnist,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
}


def load_dataset(name: str, data_dir: Path | None = None) -> Dataset:
    """Load a data set by name; an unknown name lists the allowed ones."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; allowed: {', '.join(DATASETS)}")
    dataset = DATASETS[name](data_dir)
    _check_contract(dataset)
    return dataset


def _check_contract(dataset: Dataset) -> None:
    """Fail loudly on a file that parsed but breaks the contract (shape, range, labels)."""
    splits = ("train", "valid", "test")
    for split in splits:
        images = getattr(dataset, f"{split}_images")
        labels = getattr(dataset, f"{split}_labels")
        if images.ndim != 4 or images.shape[1:] != dataset.train_images.shape[1:]:
            raise ValueError(
                f"{dataset.name}: {split} images have shape {images.shape}; expected NHWC"
            )
        if len(images) != len(labels):
            raise ValueError(
                f"{dataset.name}: {len(images)} {split} images but {len(labels)} labels"
            )
        if labels.size and (labels.min() < 0 or labels.max() >= dataset.num_classes):
            raise ValueError(
                f"{dataset.name}: {split} labels span {labels.min()}..{labels.max()}; "
                f"allowed 0..{dataset.num_classes - 1}"
            )
