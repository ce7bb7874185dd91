"""What every PyTorch twin shares: networks from the spec, weights, sampling.

A variant module subclasses `TorchGAN` and writes only its losses and its
train_step; everything here has a line-for-line twin in implementations/tf/common.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from implementations.api import BuildOptions, UnsupportedOperationError, check_weights, latent_noise
from implementations.spec import Adam, Dense, GanSpec, Layer, layer_inputs, weight_shapes

EVAL_CHUNK = 1024  # images per forward pass in sample() / discriminate(): bounds memory


def resolve_device(device: str) -> torch.device:
    """The torch device for a run; asking for a GPU that is not there is an error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def init_kernel(kernel: torch.Tensor, initializer: str, generator: torch.Generator) -> None:
    """Initialise a kernel from the spec's named distribution (not torch's default)."""
    if initializer == "glorot_uniform":
        nn.init.xavier_uniform_(kernel, generator=generator)
    elif initializer == "normal_0.02":
        nn.init.normal_(kernel, 0.0, 0.02, generator=generator)
    else:
        raise ValueError(f"unknown initializer {initializer!r}")


def activate(x: torch.Tensor, layer: Dense) -> torch.Tensor:
    """The layer's activation, with every parameter taken from the spec."""
    if layer.activation == "relu":
        return F.relu(x)
    if layer.activation == "leaky_relu":
        return F.leaky_relu(x, negative_slope=layer.leaky_slope)
    if layer.activation == "tanh":
        return torch.tanh(x)
    if layer.activation == "sigmoid":
        return torch.sigmoid(x)
    return x


class SpecMLP(nn.Module):
    """A stack of dense layers built from spec entries, named after them."""

    def __init__(self, layers: tuple[Layer, ...], in_features: int, generator: torch.Generator):
        super().__init__()
        self.specs = layers
        self.dense = nn.ModuleDict()
        for layer, width_in in zip(layers, layer_inputs(in_features, layers), strict=True):
            linear = nn.Linear(width_in, layer.units)
            init_kernel(linear.weight, layer.initializer, generator)
            nn.init.zeros_(linear.bias)
            self.dense[layer.name] = linear

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output and the activations that feed the last layer."""
        features = x
        for layer in self.specs[:-1]:
            features = activate(self.dense[layer.name](features), layer)
        last = self.specs[-1]
        return activate(self.dense[last.name](features), last), features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


def make_adam(parameters: Iterator[nn.Parameter], settings: Adam) -> torch.optim.Adam:
    """Adam with every setting from the spec."""
    return torch.optim.Adam(
        parameters,
        lr=settings.learning_rate,
        betas=(settings.beta1, settings.beta2),
        eps=settings.eps,
    )


class TorchGAN:
    """The protocol's shared half for PyTorch; variants add train_step."""

    framework = "torch"

    def __init__(self, spec: GanSpec, options: BuildOptions):
        self.variant = spec.variant
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        init_generator = torch.Generator().manual_seed(options.seed)
        self.generator = SpecMLP(spec.generator, spec.latent_dim, init_generator).to(self.device)
        self.discriminator = SpecMLP(spec.discriminator, spec.image_size, init_generator).to(
            self.device
        )
        self.g_optimizer = make_adam(self.generator.parameters(), spec.g_optimizer)
        self.d_optimizer = make_adam(self.discriminator.parameters(), spec.d_optimizer)
        # The training noise stream lives on the device: no host copy per step.
        self.noise_generator = torch.Generator(device=self.device).manual_seed(options.seed + 1)
        # What train_step calls; torch.compile wraps the modules, not the optimiser.
        self.g_forward: nn.Module = self.generator
        self.d_forward: nn.Module = self.discriminator
        if options.compile == "compiled":
            self.g_forward = torch.compile(self.generator, dynamic=False)
            self.d_forward = torch.compile(self.discriminator, dynamic=False)

    def describe_compile(self) -> str:
        return "torch.compile (inductor)" if self.options.compile == "compiled" else "torch eager"

    def noise(self, n: int) -> torch.Tensor:
        """z ~ N(0, 1) for training, drawn on the device from the run's seeded stream."""
        return torch.randn(
            (n, self.spec.latent_dim), generator=self.noise_generator, device=self.device
        )

    def to_device(
        self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if labelled_mask is None:
            labelled_mask = np.ones(len(labels), dtype=bool)
        return (
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device),
            torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device),
            torch.from_numpy(np.asarray(labelled_mask, dtype=bool)).to(self.device),
        )

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        z_all = latent_noise(n, self.spec.latent_dim, seed)
        self.generator.eval()
        chunks = []
        for start in range(0, n, EVAL_CHUNK):
            z = torch.from_numpy(z_all[start : start + EVAL_CHUNK]).to(self.device)
            chunks.append(self.generator(z).cpu().numpy())
        self.generator.train()
        flat = np.concatenate(chunks) if chunks else np.zeros((0, self.spec.image_size))
        return flat.reshape((n, *self.spec.image_shape)).astype(np.float32)

    @torch.no_grad()
    def _discriminator_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.discriminator.eval()
        logits, features = [], []
        for start in range(0, len(images), EVAL_CHUNK):
            chunk = np.asarray(images[start : start + EVAL_CHUNK], dtype=np.float32)
            x = torch.from_numpy(chunk.reshape(len(chunk), -1)).to(self.device)
            chunk_logits, chunk_features = self.discriminator.forward_with_features(x)
            logits.append(chunk_logits.cpu().numpy())
            features.append(chunk_features.cpu().numpy())
        self.discriminator.train()
        return np.concatenate(logits), np.concatenate(features)

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self._discriminator_outputs(images)[0].reshape(-1)

    def discriminator_features(self, images: np.ndarray) -> np.ndarray:
        return self._discriminator_outputs(images)[1]

    def classify(self, images: np.ndarray) -> np.ndarray:
        raise UnsupportedOperationError(f"classify() is defined for ssgan only, not {self.variant}")

    def num_params(self) -> dict[str, int]:
        return {
            "generator": sum(p.numel() for p in self.generator.parameters() if p.requires_grad),
            "discriminator": sum(
                p.numel() for p in self.discriminator.parameters() if p.requires_grad
            ),
        }

    def _named_dense(self) -> Iterator[tuple[str, nn.Linear]]:
        for network_name, network in (
            ("generator", self.generator),
            ("discriminator", self.discriminator),
        ):
            for layer_name, linear in network.dense.items():
                yield f"{network_name}.{layer_name}", linear

    def get_weights(self) -> dict[str, np.ndarray]:
        weights = {}
        for key, linear in self._named_dense():
            # torch keeps (out, in); the neutral layout is Keras's (in, out).
            weights[f"{key}.kernel"] = linear.weight.detach().cpu().numpy().T.copy()
            weights[f"{key}.bias"] = linear.bias.detach().cpu().numpy().copy()
        return weights

    @torch.no_grad()
    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        check_weights(weights, weight_shapes(self.spec))
        for key, linear in self._named_dense():
            linear.weight.copy_(torch.from_numpy(np.asarray(weights[f"{key}.kernel"]).T))
            linear.bias.copy_(torch.from_numpy(np.asarray(weights[f"{key}.bias"])))

    def device_name(self) -> str:
        if self.device.type != "cuda":
            return "cpu"
        return torch.cuda.get_device_name(self.device)

    def device_peak_mem_mb(self) -> float | None:
        if self.device.type != "cuda":
            return None
        return torch.cuda.max_memory_allocated(self.device) / 2**20
