"""metrics.inception with random weights (nothing is downloaded): pytorch-fid's FID network
is built offline, fed [0, 1] NCHW RGB, and loads weights files strictly.

InceptionV3 runs at a few images/s on the test CPU: two small images go through each check."""

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import pytorch_fid.inception as pytorch_fid_inception
import torch

from metrics.inception import (
    InceptionFeatures,
    InceptionWeightsUnavailableError,
    _fid_inception_network,
    _randomise,
)


@pytest.fixture(scope="module")
def inception() -> InceptionFeatures:
    return InceptionFeatures(random_weights=True, seed=0)


@pytest.fixture(scope="module")
def grey_images() -> np.ndarray:
    return np.random.default_rng(0).uniform(-1.0, 1.0, (2, 12, 12, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def grey_features(inception: InceptionFeatures, grey_images: np.ndarray) -> np.ndarray:
    return inception.features(grey_images, batch_size=2)


def test_features_are_2048_float64_per_image_and_differ_between_images(
    grey_features: np.ndarray,
) -> None:
    assert grey_features.shape == (2, 2048) and grey_features.dtype == np.float64
    assert grey_features.std() > 1e-2  # the random network keeps activations at scale
    assert np.abs(grey_features[0] - grey_features[1]).max() > 1e-2


def test_grey_image_and_its_rgb_tiling_give_identical_features(
    inception: InceptionFeatures, grey_images: np.ndarray, grey_features: np.ndarray
) -> None:
    rgb = np.repeat(grey_images, 3, axis=-1)
    np.testing.assert_allclose(inception.features(rgb, batch_size=2), grey_features, rtol=1e-6)


@pytest.fixture(scope="module")
def pytorch_fid_model() -> pytorch_fid_inception.InceptionV3:
    """pytorch-fid's own InceptionV3 (its __init__, its blocks), given the seed-0 random
    weights where it would download: the oracle our offline assembly must equal."""
    network = _fid_inception_network()
    _randomise(network, torch.Generator().manual_seed(0))
    with mock.patch.object(
        pytorch_fid_inception, "load_state_dict_from_url", return_value=network.state_dict()
    ) as fetch:
        model = pytorch_fid_inception.InceptionV3([3])
    fetch.assert_called_once()
    return model.eval()


def test_features_equal_pytorch_fid_inception_v3_on_unit_range_nchw(
    pytorch_fid_model, grey_images: np.ndarray, grey_features: np.ndarray
) -> None:
    unit_nchw = torch.from_numpy((grey_images.transpose(0, 3, 1, 2) + 1.0) / 2.0).repeat(1, 3, 1, 1)
    with torch.no_grad():
        expected = pytorch_fid_model(unit_nchw)[0].flatten(1).double().numpy()
    # Same weights, same layers, same forward(): the same float32 operations in the same order.
    np.testing.assert_array_equal(grey_features, expected)


def test_model_has_pytorch_fid_inception_v3_blocks_and_settings(
    inception: InceptionFeatures, pytorch_fid_model
) -> None:
    ours, theirs = inception.model, pytorch_fid_model
    assert [type(m) for m in ours.modules()] == [type(m) for m in theirs.modules()]
    assert [repr(m) for m in ours.blocks] == [repr(m) for m in theirs.blocks]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    settings = ("resize_input", "normalize_input", "output_blocks", "last_needed_block")
    assert {name: getattr(ours, name) for name in settings} == {
        name: getattr(theirs, name) for name in settings
    }
    assert not any(parameter.requires_grad for parameter in ours.parameters())


def test_batch_size_does_not_change_features(
    inception: InceptionFeatures, grey_images: np.ndarray, grey_features: np.ndarray
) -> None:
    np.testing.assert_allclose(
        inception.features(grey_images, batch_size=1), grey_features, rtol=1e-5, atol=1e-7
    )


def test_network_has_pytorch_fid_fid_inception_v3_architecture() -> None:
    """pytorch-fid's own builder loads our network's state_dict strictly: same keys, shapes."""
    ours = _fid_inception_network()
    with mock.patch.object(
        pytorch_fid_inception, "load_state_dict_from_url", return_value=ours.state_dict()
    ) as fetch:
        theirs = pytorch_fid_inception.fid_inception_v3()
    fetch.assert_called_once()
    assert [type(m) for m in theirs.modules()] == [type(m) for m in ours.modules()]


def test_building_never_fetches_weights() -> None:
    with mock.patch.object(
        pytorch_fid_inception, "load_state_dict_from_url", side_effect=AssertionError("fetch")
    ):
        InceptionFeatures(random_weights=True)


def test_weights_file_is_loaded_into_the_network(
    tmp_path: Path, inception: InceptionFeatures, grey_images: np.ndarray, grey_features
) -> None:
    """A state_dict file of the seed-0 random network gives the seed-0 features."""
    network = _fid_inception_network()
    _randomise(network, torch.Generator().manual_seed(0))
    weights_path = tmp_path / "weights.pth"
    torch.save(network.state_dict(), weights_path)
    assert InceptionFeatures.available(weights_path) == (True, "")
    loaded = InceptionFeatures(weights_path=weights_path)
    np.testing.assert_allclose(loaded.features(grey_images[:1]), grey_features[:1], rtol=1e-6)


def test_missing_weights_file_is_unavailable_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "absent.pth"
    found, reason = InceptionFeatures.available(missing)
    assert not found and str(missing) in reason and "\n" not in reason
    with pytest.raises(InceptionWeightsUnavailableError, match=r"absent\.pth"):
        InceptionFeatures(weights_path=missing)


@pytest.mark.parametrize(
    "write",
    [
        lambda path: path.write_bytes(b"not a weights file"),
        lambda path: torch.save({"fc.weight": torch.zeros(3)}, path),
    ],
    ids=["garbage", "foreign_state_dict"],
)
def test_corrupt_weights_file_gives_one_line_value_error_naming_it(tmp_path: Path, write) -> None:
    weights_path = tmp_path / "corrupt.pth"
    write(weights_path)
    with pytest.raises(ValueError) as caught:
        InceptionFeatures(weights_path=weights_path)
    assert str(weights_path) in str(caught.value) and "\n" not in str(caught.value)


def test_features_reject_images_with_two_channels(inception: InceptionFeatures) -> None:
    with pytest.raises(ValueError, match="1 or 3 channels"):
        inception.features(np.zeros((1, 8, 8, 2), dtype=np.float32))
