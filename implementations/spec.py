"""Architectures and hyper-parameters, written once and framework-neutral.

The torch and tf twins both walk the same `GanSpec`, so they are the same
model: same layers in the same order, same initialisers, same optimiser
settings. Every framework default that differs between PyTorch and Keras is
pinned here by keyword (initialisers, LeakyReLU slope, Adam eps), so neither
twin relies on its framework's default.

Weights travel between the twins in one neutral layout, Keras's: a dense
kernel is (in_features, out_features), keyed "<network>.<layer>.<param>".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

ImageShape = tuple[int, int, int]  # (height, width, channels), NHWC without N

Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
Initializer = Literal["glorot_uniform", "normal_0.02"]
INITIALIZERS: tuple[str, ...] = ("glorot_uniform", "normal_0.02")
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")


@dataclass(frozen=True)
class Dense:
    """A fully connected layer followed by its activation."""

    name: str  # key prefix in get_weights(): "<network>.<name>.kernel"
    units: int  # output features
    activation: Activation
    leaky_slope: float = 0.2  # only for leaky_relu; Keras 3 defaults to 0.3, torch to 0.01
    initializer: Initializer = "glorot_uniform"  # kernel; biases start at zero

    def __post_init__(self) -> None:
        if self.units <= 0:
            raise ValueError(f"Dense {self.name!r}: units={self.units}; must be > 0")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"Dense {self.name!r}: activation {self.activation!r}; allowed: {ACTIVATIONS}"
            )
        if self.initializer not in INITIALIZERS:
            raise ValueError(
                f"Dense {self.name!r}: initializer {self.initializer!r}; allowed: {INITIALIZERS}"
            )


Layer = Dense  # later variants add convolution and normalisation layers to this union


@dataclass(frozen=True)
class Adam:
    """Adam settings, all pinned (Keras eps defaults to 1e-7, torch to 1e-8)."""

    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-8


@dataclass(frozen=True)
class GanSpec:
    """One GAN variant, sized for one data set; both twins build from it."""

    variant: str
    image_shape: ImageShape
    num_classes: int
    latent_dim: int  # size of z, drawn from N(0, 1)
    generator: tuple[Layer, ...]  # z (flat) -> image (flat, tanh)
    discriminator: tuple[Layer, ...]  # image (flat) -> ... -> features -> logit
    loss: Literal["non_saturating_bce"]
    g_optimizer: Adam = field(default_factory=Adam)
    d_optimizer: Adam = field(default_factory=Adam)
    d_steps_per_g_step: int = 1  # k in Goodfellow et al. 2014, Algorithm 1
    preset: str = "paper"

    @property
    def image_size(self) -> int:
        """Number of values in one image (H * W * C)."""
        return math.prod(self.image_shape)

    @property
    def feature_layer(self) -> str:
        """The discriminator layer whose output discriminator_features() returns."""
        return self.discriminator[-2].name


PRESETS: tuple[str, ...] = ("paper", "tiny")


def vanilla_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Goodfellow et al. 2014: MLP generator and discriminator, non-saturating loss.

    The paper's MNIST generator is z(100) -> 1200 ReLU -> 1200 ReLU -> 784; the
    output is tanh here because images live in [-1, 1]. The paper's maxout
    discriminator with dropout is replaced by LeakyReLU(0.2) layers without
    dropout (the common modern form), so that one training step is
    deterministic given the weights and the batch and the twins can be
    compared step for step. Adam(2e-4, beta1=0.5) as in DCGAN, for both nets.
    "tiny" shrinks the widths for fast tests; parity tests use "paper".
    """
    g_width, d_widths = {"paper": (1200, (512, 256)), "tiny": (64, (64, 32))}[_check_preset(preset)]
    size = math.prod(image_shape)
    generator = (
        Dense("fc1", g_width, "relu"),
        Dense("fc2", g_width, "relu"),
        Dense("out", size, "tanh"),
    )
    discriminator = (
        Dense("fc1", d_widths[0], "leaky_relu", leaky_slope=0.2),
        Dense("fc2", d_widths[1], "leaky_relu", leaky_slope=0.2),
        Dense("logit", 1, "linear"),
    )
    return GanSpec(
        variant="vanilla",
        image_shape=image_shape,
        num_classes=num_classes,
        latent_dim=100,
        generator=generator,
        discriminator=discriminator,
        loss="non_saturating_bce",
        preset=preset,
    )


SpecBuilder = Callable[[ImageShape, int, str], GanSpec]
SPEC_BUILDERS: dict[str, SpecBuilder] = {}


def register_spec(variant: str, builder: SpecBuilder) -> None:
    """Make a variant's spec builder known; names are unique identifiers."""
    if not variant.isidentifier():
        raise ValueError(f"variant name {variant!r} must be a Python identifier")
    if variant in SPEC_BUILDERS:
        raise ValueError(f"variant {variant!r} already has a spec builder")
    SPEC_BUILDERS[variant] = builder


register_spec("vanilla", vanilla_spec)


def make_spec(
    variant: str, image_shape: ImageShape, num_classes: int, preset: str = "paper"
) -> GanSpec:
    """The spec for `variant` sized for a data set of `image_shape` and `num_classes`."""
    if variant not in SPEC_BUILDERS:
        raise ValueError(
            f"unknown variant {variant!r}; allowed: {', '.join(sorted(SPEC_BUILDERS))}"
        )
    return SPEC_BUILDERS[variant](image_shape, num_classes, _check_preset(preset))


def _check_preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"unknown spec preset {preset!r}; allowed: {', '.join(PRESETS)}")
    return preset


def layer_inputs(first_input: int, layers: tuple[Layer, ...]) -> list[int]:
    """Input width of each dense layer, given the width fed to the first one."""
    widths = [first_input]
    for layer in layers[:-1]:
        widths.append(layer.units)
    return widths


def weight_shapes(spec: GanSpec) -> dict[str, tuple[int, ...]]:
    """Every parameter's shape in the neutral layout, keyed as get_weights() keys it."""
    shapes: dict[str, tuple[int, ...]] = {}
    for network, layers, first in (
        ("generator", spec.generator, spec.latent_dim),
        ("discriminator", spec.discriminator, spec.image_size),
    ):
        for layer, width_in in zip(layers, layer_inputs(first, layers), strict=True):
            shapes[f"{network}.{layer.name}.kernel"] = (width_in, layer.units)
            shapes[f"{network}.{layer.name}.bias"] = (layer.units,)
    return shapes
