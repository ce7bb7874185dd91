"""The data contract, for every data set, from small files the tests write (no download)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from bench import datasets
from bench.batches import training_batches
from bench.datasets import Dataset, DatasetUnavailableError, load_dataset


def assert_contract(dataset: Dataset, shape: tuple[int, int, int], num_classes: int = 10) -> None:
    assert dataset.image_shape == shape
    assert dataset.num_classes == num_classes
    for split in ("train", "valid", "test"):
        images = getattr(dataset, f"{split}_images")
        labels = getattr(dataset, f"{split}_labels")
        assert images.dtype == np.float32 and images.shape[1:] == shape
        assert labels.dtype == np.int64 and labels.shape == (len(images),)
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert labels.min() >= 0 and labels.max() < num_classes


def test_digits_is_mnist_shaped_with_a_fixed_stratified_split(digits):
    assert_contract(digits, (28, 28, 1))
    assert (len(digits.train_images), len(digits.valid_images), len(digits.test_images)) == (
        1078,
        359,
        360,
    )
    # Stratified: every class is in every split, in proportion (179-183 digits per class).
    for labels in (digits.train_labels, digits.valid_labels, digits.test_labels):
        counts = np.bincount(labels, minlength=10)
        assert counts.min() >= 0.9 * counts.mean()
    # Fixed: a second load gives the same split.
    again = load_dataset("digits")
    np.testing.assert_array_equal(again.test_images, digits.test_images)


def test_digits_sits_in_a_20x20_box_with_a_4_pixel_border_like_mnist(digits):
    border = np.concatenate([digits.train_images[:, :4], digits.train_images[:, -4:]], axis=1)
    assert np.all(border == -1.0)
    assert np.all(digits.train_images[:, :, :4] == -1.0)
    assert digits.train_images[:, 4:24, 4:24].max() == 1.0


def write_mnist_npz(folder: Path, rng: np.random.Generator, n_train: int = 10_050) -> None:
    np.savez(
        folder / "mnist.npz",
        x_train=rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        y_train=rng.integers(0, 10, n_train).astype(np.uint8),
        x_test=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
        y_test=rng.integers(0, 10, 20).astype(np.uint8),
    )


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist_loads_the_standard_npz_and_holds_out_10000_for_validation(tmp_path):
    rng = np.random.default_rng(0)
    write_mnist_npz(tmp_path, rng)
    dataset = load_dataset("mnist", tmp_path)
    assert_contract(dataset, (28, 28, 1))
    assert (len(dataset.train_images), len(dataset.valid_images), len(dataset.test_images)) == (
        50,
        10_000,
        20,
    )
    raw = np.load(tmp_path / "mnist.npz")["x_train"]
    np.testing.assert_allclose(dataset.train_images[..., 0], raw[:50] / 127.5 - 1.0, atol=1e-6)


def test_fashion_mnist_loads_the_four_idx_files(tmp_path):
    rng = np.random.default_rng(1)
    names = datasets.FASHION_FILES
    write_idx(tmp_path / names[0], rng.integers(0, 256, (10_010, 28, 28)))
    write_idx(tmp_path / names[1], rng.integers(0, 10, 10_010))
    write_idx(tmp_path / names[2], rng.integers(0, 256, (7, 28, 28)))
    write_idx(tmp_path / names[3], rng.integers(0, 10, 7))
    dataset = load_dataset("fashion_mnist", tmp_path)
    assert_contract(dataset, (28, 28, 1))
    assert len(dataset.train_images) == 10 and len(dataset.test_images) == 7


def test_cifar10_loads_the_binary_batches_as_nhwc(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / datasets.CIFAR_DIR
    folder.mkdir()
    first_image = None
    for name, count in [(n, 1001) for n in datasets.CIFAR_TRAIN_FILES] + [
        (datasets.CIFAR_TEST_FILE, 4)
    ]:
        labels = rng.integers(0, 10, (count, 1), dtype=np.uint8)
        pixels = rng.integers(0, 256, (count, 3 * 32 * 32), dtype=np.uint8)
        first_image = pixels[0] if first_image is None else first_image
        np.concatenate([labels, pixels], axis=1).tofile(folder / name)
    dataset = load_dataset("cifar10", tmp_path)
    assert_contract(dataset, (32, 32, 3))
    assert len(dataset.train_images) == 5 * 1001 - 5_000
    # The record is CHW; the contract is HWC: red plane first in the file.
    chw = first_image.reshape(3, 32, 32)
    np.testing.assert_allclose(dataset.train_images[0, :, :, 0], chw[0] / 127.5 - 1.0, atol=1e-6)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_missing_file_in_data_dir_names_the_file_and_never_downloads(tmp_path, monkeypatch, name):
    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(datasets, "_download_with_keras", no_download)
    with pytest.raises(DatasetUnavailableError) as caught:
        load_dataset(name, tmp_path)
    message = str(caught.value)
    assert str(tmp_path) in message and "\n" not in message
    assert "put the standard file" in message


def test_offline_without_data_dir_says_where_to_put_the_file(tmp_path, monkeypatch):
    def offline(name, origin):
        raise OSError("network unreachable")

    monkeypatch.setattr(datasets, "KERAS_CACHE", tmp_path / "empty-cache")
    monkeypatch.setattr(datasets, "_download_with_keras", offline)
    with pytest.raises(DatasetUnavailableError, match=r"mnist\.npz.*--data-dir"):
        load_dataset("mnist")


def test_a_cached_keras_file_is_used_without_a_download(tmp_path, monkeypatch):
    write_mnist_npz(tmp_path, np.random.default_rng(3))
    monkeypatch.setattr(datasets, "KERAS_CACHE", tmp_path)
    monkeypatch.setattr(datasets, "_download_with_keras", None)  # calling it would fail
    assert_contract(load_dataset("mnist"), (28, 28, 1))


def test_labels_out_of_range_are_rejected(tmp_path):
    rng = np.random.default_rng(4)
    write_mnist_npz(tmp_path, rng)
    arrays = dict(np.load(tmp_path / "mnist.npz"))
    arrays["y_test"][0] = 12
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match=r"test labels span 0\.\.12; allowed 0\.\.9"):
        load_dataset("mnist", tmp_path)


def test_wrong_pixel_dtype_is_rejected(tmp_path):
    rng = np.random.default_rng(5)
    write_mnist_npz(tmp_path, rng)
    arrays = dict(np.load(tmp_path / "mnist.npz"))
    arrays["x_train"] = arrays["x_train"].astype(np.float64)
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match="dtype float64; expected uint8"):
        load_dataset("mnist", tmp_path)


def test_unknown_data_set_lists_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown data set 'imagenet'; allowed: digits, mnist"):
        load_dataset("imagenet")


def test_training_batches_reshuffle_each_epoch_and_drop_the_ragged_tail(digits):
    batches = training_batches(
        digits.train_images,
        digits.train_labels,
        500,
        0,
        labelled_mask=np.ones(len(digits.train_labels), dtype=bool),
    )
    first_epoch = [next(batches) for _ in range(2)]  # 1078 images: 2 full batches, 78 dropped
    second_epoch = next(batches)
    assert all(images.shape == (500, 28, 28, 1) for images, _, _ in first_epoch)
    assert not np.array_equal(first_epoch[0][1], second_epoch[1])
    again = training_batches(
        digits.train_images,
        digits.train_labels,
        500,
        0,
        labelled_mask=np.ones(len(digits.train_labels), dtype=bool),
    )
    np.testing.assert_array_equal(next(again)[1], first_epoch[0][1])


def test_training_batches_need_their_labelled_mask_written_down(digits):
    # Fails closed: no default that would mean "every label is visible".
    with pytest.raises(TypeError, match="labelled_mask"):
        training_batches(digits.train_images, digits.train_labels, 64, 0)
    with pytest.raises(ValueError, match="labelled_mask"):
        next(
            training_batches(
                digits.train_images, digits.train_labels, 64, 0, labelled_mask=np.ones(3, bool)
            )
        )
