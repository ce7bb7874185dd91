"""InceptionV3 pool3 features (2048-d) for the standard FID, through pytorch-fid, offline.

pytorch-fid's `InceptionV3()` builds the FID variant of InceptionV3 (torchvision's network
with the blocks TensorFlow's FID graph differs in) and fetches its weights with
`load_state_dict_from_url`. Nothing here may download, so `_fid_inception_network`
repeats that construction from pytorch-fid's own block classes without the fetch, the
weights come from a file read with `torch.load(..., weights_only=True)` (never unpickled
code), and `_pool3_model` assembles pytorch-fid's `InceptionV3` from that network's
blocks, as its constructor does, so resizing to 299x299, the input scaling and the
forward pass are pytorch-fid's own code. tests/test_inception.py proves the features
equal those of pytorch-fid's constructor given the same weights.

The weights file is pytorch-fid's `pt_inception-2015-12-05-6726825d.pth`, looked for
where the caller says or where torch hub caches it. Without it the Inception FID is
unavailable and `InceptionFeatures.available()` says why.
"""

from __future__ import annotations

import os
import shutil
import urllib.request
from pathlib import Path

import numpy as np
import pytorch_fid.inception as pytorch_fid_inception
import torch
from pytorch_fid.inception import InceptionV3

WEIGHTS_FILE = Path(pytorch_fid_inception.FID_WEIGHTS_URL).name  # pt_inception-2015-12-05-...pth
POOL3_DIMS = 2048
DEFAULT_BATCH_SIZE = 32


class InceptionWeightsUnavailableError(FileNotFoundError):
    """The pytorch-fid Inception weights file is not on this machine."""


def hub_weights_path() -> Path:
    """Where torch hub (and so pytorch-fid) caches the FID Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_FILE


class InceptionFeatures:
    """pytorch-fid's InceptionV3 pool3 features of NHWC images in [-1, 1]."""

    def __init__(
        self,
        weights_path: Path | None = None,
        device: str = "cpu",
        random_weights: bool = False,
        seed: int = 0,
    ) -> None:
        """Load the FID weights from `weights_path`, else from the torch hub cache.

        `random_weights=True` (tests only) skips the file and initialises the same network
        from `seed` so activations keep their scale; its features mean nothing.
        """
        network = _fid_inception_network()
        if random_weights:
            _randomise(network, torch.Generator().manual_seed(seed))
        else:
            found, reason = self.available(weights_path)
            if not found:
                raise InceptionWeightsUnavailableError(reason)
            _load_weights(network, Path(weights_path) if weights_path else hub_weights_path())
        self.device = torch.device(device)
        self.model = _pool3_model(network).to(self.device).eval()

    @staticmethod
    def available(weights_path: Path | None = None) -> tuple[bool, str]:
        """Whether the weights file is present and, if not, why the Inception FID is null."""
        path = Path(weights_path) if weights_path is not None else hub_weights_path()
        if path.is_file():
            return True, ""
        return False, (
            f"Inception weights {path} not found (offline: nothing is downloaded); "
            f"put {pytorch_fid_inception.FID_WEIGHTS_URL} there"
        )

    def features(self, images: np.ndarray, batch_size: int = DEFAULT_BATCH_SIZE) -> np.ndarray:
        """(n, 2048) float64 pool3 features; grey images are tiled to RGB first.

        Images are NHWC in [-1, 1] with 1 or 3 channels. They go to pytorch-fid's model as
        NCHW in [0, 1], the range it expects: it resizes bilinearly to 299x299 and maps
        back to [-1, 1] itself (resize_input=True, normalize_input=True).
        """
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"images have shape {images.shape}; expected NHWC with 1 or 3 channels"
            )
        if batch_size < 1:
            raise ValueError(f"batch_size = {batch_size}; must be >= 1")
        outputs = [np.zeros((0, POOL3_DIMS))]
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = _to_unit_nchw_rgb(images[start : start + batch_size]).to(self.device)
                pool3 = self.model(batch)[0]  # (b, 2048, 1, 1)
                outputs.append(pool3.flatten(1).cpu().numpy().astype(np.float64))
        return np.concatenate(outputs)


def check_weights_file(path: Path) -> None:
    """Load a weights file into the FID network once, so a corrupt or wrong file is one
    ValueError naming it before a suite starts, not a failed evaluation in every run."""
    _load_weights(_fid_inception_network(), Path(path))


def fetch_weights(destination: Path | None = None, timeout_s: float = 30.0) -> tuple[bool, str]:
    """Download pytorch-fid's weights (about 92 MB) for a user with a network.

    Written to a temporary file beside `destination` (default: the torch hub cache) and
    renamed, so an interrupted download never leaves a file that looks complete.
    Returns (fetched, why not). The harness calls it once per suite, before any run.
    """
    url = pytorch_fid_inception.FID_WEIGHTS_URL
    path = Path(destination) if destination is not None else hub_weights_path()
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(url, timeout=timeout_s) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
        os.replace(partial, path)
    except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
        partial.unlink(missing_ok=True)
        return False, f"Inception weights not found at {path} and not fetched from {url} ({error})"
    return True, ""


def _fid_inception_network() -> torch.nn.Module:
    """pytorch_fid.inception.fid_inception_v3() without its load_state_dict_from_url."""
    fid = pytorch_fid_inception
    inception = fid._inception_v3(num_classes=1008, aux_logits=False, weights=None)
    inception.Mixed_5b = fid.FIDInceptionA(192, pool_features=32)
    inception.Mixed_5c = fid.FIDInceptionA(256, pool_features=64)
    inception.Mixed_5d = fid.FIDInceptionA(288, pool_features=64)
    inception.Mixed_6b = fid.FIDInceptionC(768, channels_7x7=128)
    inception.Mixed_6c = fid.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6d = fid.FIDInceptionC(768, channels_7x7=160)
    inception.Mixed_6e = fid.FIDInceptionC(768, channels_7x7=192)
    inception.Mixed_7b = fid.FIDInceptionE_1(1280)
    inception.Mixed_7c = fid.FIDInceptionE_2(2048)
    return inception


def _pool3_model(network: torch.nn.Module) -> InceptionV3:
    """pytorch-fid's InceptionV3 (pool3 output only) made of `network`'s layers.

    InceptionV3.__init__ would build its own network with fid_inception_v3(), which
    downloads; so the instance is made without it and given the blocks that __init__
    builds for output block 3, in its order. Its forward() is then pytorch-fid's own.
    """
    model = InceptionV3.__new__(InceptionV3)
    torch.nn.Module.__init__(model)
    model.resize_input = True  # bilinear to 299x299
    model.normalize_input = True  # [0, 1] -> [-1, 1]
    model.output_blocks = [InceptionV3.BLOCK_INDEX_BY_DIM[POOL3_DIMS]]
    model.last_needed_block = model.output_blocks[-1]
    model.blocks = torch.nn.ModuleList(
        [
            torch.nn.Sequential(
                network.Conv2d_1a_3x3, network.Conv2d_2a_3x3, network.Conv2d_2b_3x3, _max_pool()
            ),
            torch.nn.Sequential(network.Conv2d_3b_1x1, network.Conv2d_4a_3x3, _max_pool()),
            torch.nn.Sequential(
                network.Mixed_5b,
                network.Mixed_5c,
                network.Mixed_5d,
                network.Mixed_6a,
                network.Mixed_6b,
                network.Mixed_6c,
                network.Mixed_6d,
                network.Mixed_6e,
            ),
            torch.nn.Sequential(
                network.Mixed_7a,
                network.Mixed_7b,
                network.Mixed_7c,
                torch.nn.AdaptiveAvgPool2d(output_size=(1, 1)),
            ),
        ]
    )
    model.requires_grad_(False)
    return model


def _max_pool() -> torch.nn.MaxPool2d:
    return torch.nn.MaxPool2d(kernel_size=3, stride=2)


def _load_weights(network: torch.nn.Module, path: Path) -> None:
    """Strict load of a state_dict file; anything else is a one-line ValueError naming it."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as error:  # torch: UnpicklingError, RuntimeError, EOFError, KeyError...
        detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        raise ValueError(
            f"{path}: not pytorch-fid's Inception weights ({type(error).__name__}: {detail})"
        ) from error


def _randomise(network: torch.nn.Module, generator: torch.Generator) -> None:
    """He-normal conv and linear weights from `generator`: activations keep their scale
    through ~90 layers (torch's default init shrinks them towards 0), so tests that compare
    features compare numbers, not zeros."""
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                torch.nn.init.kaiming_normal_(
                    module.weight, nonlinearity="relu", generator=generator
                )
                if module.bias is not None:
                    module.bias.zero_()


def _to_unit_nchw_rgb(images: np.ndarray) -> torch.Tensor:
    """NHWC in [-1, 1], 1 or 3 channels -> NCHW float32 in [0, 1] with 3 channels."""
    unit = (np.asarray(images, dtype=np.float32) + 1.0) / 2.0
    if unit.shape[-1] == 1:
        unit = np.repeat(unit, 3, axis=-1)
    return torch.from_numpy(np.ascontiguousarray(unit.transpose(0, 3, 1, 2)))
