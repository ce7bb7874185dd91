"""What every PyTorch twin shares: networks from the spec, weights, sampling.

A variant module subclasses `TorchGAN` and writes only its losses and its
train_step; everything here has a line-for-line twin in implementations/tf/common.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from implementations.api import (
    BuildOptions,
    RunFacts,
    UnsupportedOperationError,
    check_weights,
    latent_noise,
)
from implementations.spec import (
    Adam,
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GanSpec,
    Layer,
    Reshape,
    Shape,
    network_shapes,
    weight_shapes,
)

EVAL_CHUNK = 1024  # images per forward pass in sample() / discriminate(): bounds memory


def resolve_device(device: str) -> torch.device:
    """The torch device for a run; asking for a GPU that is not there is an error."""
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA GPU; use --device cpu")
    return torch.device(device)


def init_kernel(kernel: torch.Tensor, initializer: str, generator: torch.Generator) -> None:
    """Initialise a kernel from the spec's named distribution (not torch's default)."""
    if initializer == "glorot_uniform":
        # torch computes fans from dims 0 and 1 of (out, in, kh, kw) conv kernels, as Keras
        # does from (kh, kw, in, out): fan = channels * receptive field, the same law.
        nn.init.xavier_uniform_(kernel, generator=generator)
    elif initializer == "normal_0.02":
        nn.init.normal_(kernel, 0.0, 0.02, generator=generator)
    else:
        raise ValueError(f"unknown initializer {initializer!r}")


def activate(x: torch.Tensor, layer: Layer) -> torch.Tensor:
    """The layer's activation, with every parameter taken from the spec."""
    activation = getattr(layer, "activation", "linear")
    if activation == "relu":
        return F.relu(x)
    if activation == "leaky_relu":
        return F.leaky_relu(x, negative_slope=layer.leaky_slope)
    if activation == "tanh":
        return torch.tanh(x)
    if activation == "sigmoid":
        return torch.sigmoid(x)
    return x


def make_module(layer: Layer, input_shape: Shape, generator: torch.Generator) -> nn.Module | None:
    """The torch module for one spec layer (None for reshapes), initialised from the spec."""
    if isinstance(layer, Dense):
        module = nn.Linear(input_shape[0], layer.units, bias=layer.use_bias)
    elif isinstance(layer, Conv):
        # Padding as Conv in spec.py defines it: torch's own; in Keras, by hand around "valid".
        conv_class = nn.ConvTranspose2d if layer.transpose else nn.Conv2d
        module = conv_class(
            input_shape[-1],
            layer.filters,
            kernel_size=layer.kernel,
            stride=layer.stride,
            padding=layer.padding,
            bias=layer.use_bias,
        )
    elif isinstance(layer, BatchNorm):
        norm_class = KerasBatchNorm1d if len(input_shape) == 1 else KerasBatchNorm2d
        # Keyword arguments: the second positional argument of BatchNorm is eps.
        return norm_class(input_shape[-1], eps=layer.eps, momentum=1.0 - layer.momentum)
    else:
        return None
    init_kernel(module.weight, layer.initializer, generator)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


class BiasedMovingVariance:
    """torch BatchNorm whose moving variance is updated as Keras updates it.

    torch folds the unbiased batch variance (n / (n - 1) times larger) into
    running_var, Keras the biased one that both use to normalise; after a few
    steps the twins' inference outputs would drift apart by that factor.
    Normalisation itself is torch's fused kernel on batch statistics.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(x)
        reduce_dims = [0, *range(2, x.dim())]
        with torch.no_grad():
            # Statistics in float32 whatever x is (bf16 under autocast), as Keras keeps them.
            variance, mean = torch.var_mean(x.float(), dim=reduce_dims, correction=0)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(variance, self.momentum)
        return F.batch_norm(
            x, None, None, self.weight, self.bias, training=True, momentum=0.0, eps=self.eps
        )


class KerasBatchNorm1d(BiasedMovingVariance, nn.BatchNorm1d):
    pass


class KerasBatchNorm2d(BiasedMovingVariance, nn.BatchNorm2d):
    pass


class SpecNet(nn.Module):
    """A network built from spec layers, named after them.

    Inputs and outputs are logical NHWC like the spec; inside, maps are NCHW
    as torch's convolutions want them, converted at reshapes and flattens so
    that dense kernels see features in the spec's (H, W, C) order.
    """

    def __init__(
        self,
        layers: tuple[Layer, ...],
        input_shape: Shape,
        generator: torch.Generator,
        autocast_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.specs = layers
        self.autocast_dtype = autocast_dtype  # bf16: layers compute in it, outputs are fp32
        self.layers = nn.ModuleDict()
        for layer, layer_input, _ in network_shapes(layers, input_shape):
            module = make_module(layer, layer_input, generator)
            if module is not None:
                self.layers[layer.name] = module

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The output (NHWC) and the last layer's input, flattened in (H, W, C) order."""
        # Maps are NHWC at both ends; inside, NCHW in torch (its fastest), NHWC in Keras.
        if x.dim() == 4:
            x = x.permute(0, 3, 1, 2).contiguous()
        features = x
        with torch.autocast(
            x.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            for layer in self.specs:
                features = x
                x = activate(self.apply_layer(layer, x), layer)
        # bf16 compute -> fp32
        return _to_nhwc(x).float(), _to_nhwc(features).flatten(1).float()

    def apply_layer(self, layer: Layer, x: torch.Tensor) -> torch.Tensor:
        if isinstance(layer, Reshape):
            return x.reshape(-1, *layer.shape).permute(0, 3, 1, 2).contiguous()
        if isinstance(layer, Flatten):
            return _to_nhwc(x).flatten(1)
        return self.layers[layer.name](x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(x)[0]


def set_tf32(enabled: bool) -> None:
    """TF32 for float32 matmuls and cuDNN convolutions, both set (they default differently)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled
    torch.backends.cudnn.allow_tf32 = enabled


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def make_adam(
    parameters: Iterator[nn.Parameter], settings: Adam, device: torch.device
) -> torch.optim.Adam:
    """Adam with every setting from the spec, and epsilon placed as torch places it.

    On a GPU the fused kernel (one launch per step for all parameters, no host sync): these
    small models are launch-bound there. On the CPU the per-parameter loop, as before.
    """
    on_gpu = device.type == "cuda"
    return torch.optim.Adam(
        parameters,
        lr=settings.learning_rate,
        betas=(settings.beta1, settings.beta2),
        eps=settings.eps,
        foreach=False,
        fused=True if on_gpu else None,
    )


def adam_implementation(optimizer: torch.optim.Adam) -> str:
    """Which of torch's Adam kernels steps: fused, foreach or the per-parameter for-loop."""
    if optimizer.defaults.get("fused"):
        return "fused"
    return "foreach" if optimizer.defaults.get("foreach") else "for-loop"


def set_determinism(enabled: bool, device: torch.device) -> dict[str, str]:
    """Deterministic kernels, process-wide, when asked; returns what is now set.

    Only ever turned on, as in TensorFlow: another model built later in the same process
    (the worker's FLOP counter builds one) must not undo the run's request. On a GPU,
    cuBLAS is deterministic only with a fixed workspace (CUBLAS_WORKSPACE_CONFIG, read when
    the first cuBLAS handle is made) and cuDNN's autotuner may pick another algorithm in
    each process, so both are pinned too. On the CPU the switches cost nothing. Not
    deterministic on a GPU: cuDNN picks its fastest convolution algorithms in the warm-up, as
    TensorFlow's autotuner does by default (TF_CUDNN_USE_AUTOTUNE), a like-for-like comparison.
    """
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True)
    elif device.type == "cuda" and not torch.backends.cudnn.deterministic:
        torch.backends.cudnn.benchmark = True
    return {
        "torch.use_deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
        "torch.backends.cudnn.deterministic": str(torch.backends.cudnn.deterministic),
        "torch.backends.cudnn.benchmark": str(torch.backends.cudnn.benchmark),
        "CUBLAS_WORKSPACE_CONFIG": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
    }


class TorchGAN:
    """The protocol's shared half for PyTorch; variants add train_step."""

    framework = "torch"

    def __init__(self, spec: GanSpec, options: BuildOptions):
        self.variant = spec.variant
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        set_tf32(options.tf32)
        self.determinism = set_determinism(options.deterministic, self.device)
        autocast_dtype = torch.bfloat16 if options.precision == "bf16" else None
        init_generator = torch.Generator().manual_seed(options.seed)
        self.generator = SpecNet(
            spec.generator, spec.generator_input, init_generator, autocast_dtype
        ).to(self.device)
        self.discriminator = SpecNet(
            spec.discriminator, spec.discriminator_input, init_generator, autocast_dtype
        ).to(self.device)
        self.g_optimizer = make_adam(self.generator.parameters(), spec.g_optimizer, self.device)
        self.d_optimizer = make_adam(self.discriminator.parameters(), spec.d_optimizer, self.device)
        # The training noise stream lives on the device: no host copy per step.
        self.noise_generator = torch.Generator(device=self.device).manual_seed(options.seed + 1)
        # What the harness calls: torch.compile wraps the modules (not the optimiser) when
        # compiled; tf.function traces the variant's whole train_step (XLA when compiled).
        self.g_forward: nn.Module = self.generator
        self.d_forward: nn.Module = self.discriminator
        self.d_forward_with_features = self.discriminator.forward_with_features
        if options.compile == "cudagraphs" and self.device.type != "cuda":
            raise UnsupportedOperationError(
                "compile mode 'cudagraphs' needs a CUDA device (torch.compile "
                "mode='reduce-overhead' captures CUDA graphs)"
            )
        if options.compile != "default":
            self.g_forward = self.compile_module(self.generator)
            self.d_forward = self.compile_module(self.discriminator)
            self.d_forward_with_features = self.compile_module(
                self.discriminator.forward_with_features
            )

    def compile_module(self, function: Callable) -> Callable:
        """torch.compile as this run's compile mode asks: inductor, or inductor + CUDA graphs."""
        mode = "reduce-overhead" if self.options.compile == "cudagraphs" else None
        return torch.compile(function, dynamic=False, mode=mode)

    def run_facts(self) -> RunFacts:
        on_accelerator = self.device.type == "cuda"
        return RunFacts(
            device_name=torch.cuda.get_device_name(self.device) if on_accelerator else "cpu",
            peak_mem_mb=(
                torch.cuda.max_memory_allocated(self.device) / 2**20 if on_accelerator else None
            ),
            compile_detail={
                "default": "torch eager",
                "compiled": "torch.compile (inductor)",
                "cudagraphs": "torch.compile (inductor, mode=reduce-overhead: CUDA graphs)",
            }[self.options.compile],
            optimizer_detail=f"torch.optim.Adam ({adam_implementation(self.g_optimizer)}), eager",
            determinism_settings=dict(self.determinism),
        )

    def noise(self, n: int) -> torch.Tensor:
        """z ~ N(0, 1) for training, drawn on the device from the run's seeded stream."""
        return torch.randn(
            (n, self.spec.latent_dim), generator=self.noise_generator, device=self.device
        )

    def to_device(
        self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).to(self.device),
            torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device),
            torch.from_numpy(np.asarray(labelled_mask, dtype=bool)).to(self.device),
        )

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def generator_input(self, z: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """What the generator's first layer sees; conditional variants add the label."""
        return z

    def discriminator_input(
        self, images: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor:
        """What the discriminator's first layer sees; conditional variants add the label."""
        return images

    @torch.no_grad()
    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        z_all = latent_noise(n, self.spec.latent_dim, seed)
        self.generator.eval()
        chunks = []
        for start in range(0, n, EVAL_CHUNK):
            z = torch.from_numpy(z_all[start : start + EVAL_CHUNK]).to(self.device)
            chunk_labels = (
                None if labels is None else self._labels(labels[start : start + EVAL_CHUNK])
            )
            chunks.append(self.generator(self.generator_input(z, chunk_labels)).cpu().numpy())
        self.generator.train()
        if not chunks:
            return np.zeros((0, *self.spec.image_shape), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    @torch.no_grad()
    def _discriminator_outputs(
        self, images: np.ndarray, labels: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        self.discriminator.eval()
        outputs, features = [], []
        for start in range(0, len(images), EVAL_CHUNK):
            chunk = np.asarray(images[start : start + EVAL_CHUNK], dtype=np.float32)
            x = torch.from_numpy(chunk).to(self.device)
            chunk_labels = (
                None if labels is None else self._labels(labels[start : start + EVAL_CHUNK])
            )
            chunk_outputs, chunk_features = self.discriminator.forward_with_features(
                self.discriminator_input(x, chunk_labels)
            )
            outputs.append(chunk_outputs.cpu().numpy())
            features.append(chunk_features.cpu().numpy())
        self.discriminator.train()
        return np.concatenate(outputs), np.concatenate(features)

    def _labels(self, labels: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(labels, dtype=np.int64)).to(self.device)

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self._discriminator_outputs(images, labels)[0].reshape(-1)

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

    def _named_modules(self) -> Iterator[tuple[str, nn.Module]]:
        for network_name, network in (
            ("generator", self.generator),
            ("discriminator", self.discriminator),
        ):
            for layer_name, module in network.layers.items():
                yield f"{network_name}.{layer_name}", module

    def get_weights(self) -> dict[str, np.ndarray]:
        weights = {}
        for key, module in self._named_modules():
            for param, tensor in neutral_parameters(module).items():
                weights[f"{key}.{param}"] = tensor.detach().cpu().numpy().copy()
        return weights

    @torch.no_grad()
    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        check_weights(weights, weight_shapes(self.spec))
        for key, module in self._named_modules():
            for param, tensor in neutral_parameters(module).items():
                tensor.copy_(torch.from_numpy(np.asarray(weights[f"{key}.{param}"])))


def neutral_parameters(module: nn.Module) -> dict[str, torch.Tensor]:
    """A module's parameters as views in the neutral (Keras) layout; writing them writes the module.

    torch keeps a dense kernel as (out, in), a convolution kernel as
    (out, in, kh, kw) and a transposed one as (in, out, kh, kw); Keras keeps
    (in, out), (kh, kw, in, out) and (kh, kw, out, in): one transpose each, the same
    permutation for Conv2d and ConvTranspose2d.
    """
    if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
        return {
            "gamma": module.weight,
            "beta": module.bias,
            "moving_mean": module.running_mean,
            "moving_variance": module.running_var,
        }
    if isinstance(module, nn.Linear):
        kernel = module.weight.T
    else:
        kernel = module.weight.permute(2, 3, 1, 0)
    params = {"kernel": kernel}
    if module.bias is not None:
        params["bias"] = module.bias
    return params
