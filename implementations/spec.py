"""Architectures and hyper-parameters, written once and framework-neutral.

The torch and tf twins both walk the same `GanSpec`, so they are the same
model: same layers in the same order, same initialisers, same optimiser
settings. Every framework default that differs between PyTorch and Keras is
pinned here by keyword: initialisers, LeakyReLU slope (Keras 3: 0.3, torch:
0.01), BatchNorm momentum (Keras m is torch 1 - m) and eps, convolution
padding (explicit, never "same", whose split differs), Adam eps (Keras:
1e-7, torch: 1e-8).

Shapes are logical NHWC everywhere in a spec. Weights travel between the
twins in one neutral layout, Keras's: a dense kernel is (in, out), a
convolution kernel (kh, kw, in, out), a transposed one (kh, kw, out, in),
batch norm has gamma, beta, moving_mean, moving_variance; keyed
"<network>.<layer>.<param>".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

ImageShape = tuple[int, int, int]  # (height, width, channels), NHWC without N
Shape = tuple[int, ...]  # a layer's input or output shape without the batch axis

# What a variant needs from the harness's labels; the harness reads this, never a variant name.
# "none": images only. "conditional": every image's label goes to G and D (sample() takes
# labels; D's features are read with the answer given, so no probe). "semi_supervised": only
# a fixed labelled few reach training (ssl_labels of them, half of each batch), and D is a
# K-way classifier (ssl_accuracy, and a supervised-only baseline on the same few).
LabelUse = Literal["none", "conditional", "semi_supervised"]
LABEL_USES: tuple[str, ...] = ("none", "conditional", "semi_supervised")
Activation = Literal["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
Initializer = Literal["glorot_uniform", "normal_0.02"]
INITIALIZERS: tuple[str, ...] = ("glorot_uniform", "normal_0.02")
ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")


def _check_activation(name: str, activation: str, initializer: str = "glorot_uniform") -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"layer {name!r}: activation {activation!r}; allowed: {ACTIVATIONS}")
    if initializer not in INITIALIZERS:
        raise ValueError(f"layer {name!r}: initializer {initializer!r}; allowed: {INITIALIZERS}")


@dataclass(frozen=True)
class Dense:
    """A fully connected layer, then its activation."""

    name: str  # key prefix in get_weights(): "<network>.<name>.kernel"
    units: int  # output features
    activation: Activation = "linear"
    leaky_slope: float = 0.2  # only for leaky_relu
    initializer: Initializer = "glorot_uniform"  # kernel; biases start at zero
    use_bias: bool = True

    def __post_init__(self) -> None:
        if self.units <= 0:
            raise ValueError(f"layer {self.name!r}: units={self.units}; must be > 0")
        _check_activation(self.name, self.activation, self.initializer)


@dataclass(frozen=True)
class Conv:
    """A 2-D convolution (or transposed convolution), then its activation.

    Padding is explicit and symmetric: `padding` zeros on every side for a
    convolution; for a transposed one, `padding` rows/columns cropped from
    every side of the full output, exactly torch's ConvTranspose2d padding.
    Output size: (H + 2p - k) // s + 1, transposed (H - 1) * s - 2p + k.
    """

    name: str
    filters: int
    kernel: int
    stride: int
    padding: int
    transpose: bool = False
    activation: Activation = "linear"
    leaky_slope: float = 0.2
    initializer: Initializer = "normal_0.02"
    use_bias: bool = True

    def __post_init__(self) -> None:
        if min(self.filters, self.kernel, self.stride) <= 0 or self.padding < 0:
            raise ValueError(f"layer {self.name!r}: filters, kernel, stride > 0, padding >= 0")
        _check_activation(self.name, self.activation, self.initializer)


@dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation over the last (channel) axis, then an activation.

    momentum follows Keras: moving = momentum * moving + (1 - momentum) * batch;
    torch's momentum is 1 - this. gamma starts at 1, beta at 0.
    """

    name: str
    momentum: float = 0.9
    eps: float = 1e-5
    activation: Activation = "linear"
    leaky_slope: float = 0.2

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0 or self.eps <= 0:
            raise ValueError(f"layer {self.name!r}: momentum in [0, 1), eps > 0")
        _check_activation(self.name, self.activation)


@dataclass(frozen=True)
class Reshape:
    """A flat vector to an NHWC map (a dense projection's output, read as H, W, C)."""

    shape: ImageShape
    name: str = "reshape"


@dataclass(frozen=True)
class Flatten:
    """An NHWC map to a flat vector, in H, W, C order (Keras's order)."""

    name: str = "flatten"


Layer = Dense | Conv | BatchNorm | Reshape | Flatten


def output_shape(layer: Layer, input_shape: Shape) -> Shape:
    """The shape a layer produces from `input_shape`; a mismatch is a ValueError."""
    if isinstance(layer, Dense):
        _expect_rank(layer, input_shape, 1)
        return (layer.units,)
    if isinstance(layer, Conv):
        _expect_rank(layer, input_shape, 3)
        height, width, _ = input_shape
        if layer.transpose:
            size = [
                (n - 1) * layer.stride - 2 * layer.padding + layer.kernel for n in (height, width)
            ]
        else:
            size = [
                (n + 2 * layer.padding - layer.kernel) // layer.stride + 1 for n in (height, width)
            ]
        return (size[0], size[1], layer.filters)
    if isinstance(layer, Reshape):
        if math.prod(input_shape) != math.prod(layer.shape):
            raise ValueError(f"cannot reshape {input_shape} to {layer.shape}")
        return layer.shape
    if isinstance(layer, Flatten):
        return (math.prod(input_shape),)
    return input_shape  # BatchNorm


def parameter_shapes(layer: Layer, input_shape: Shape) -> dict[str, Shape]:
    """The layer's parameters in the neutral (Keras) layout."""
    if isinstance(layer, Dense):
        shapes = {"kernel": (input_shape[0], layer.units)}
        return {**shapes, "bias": (layer.units,)} if layer.use_bias else shapes
    if isinstance(layer, Conv):
        channels_in = input_shape[-1]
        if layer.transpose:
            shapes = {"kernel": (layer.kernel, layer.kernel, layer.filters, channels_in)}
        else:
            shapes = {"kernel": (layer.kernel, layer.kernel, channels_in, layer.filters)}
        return {**shapes, "bias": (layer.filters,)} if layer.use_bias else shapes
    if isinstance(layer, BatchNorm):
        channels = (input_shape[-1],)
        return dict.fromkeys(("gamma", "beta", "moving_mean", "moving_variance"), channels)
    return {}


NON_TRAINABLE = ("moving_mean", "moving_variance")


def _expect_rank(layer: Layer, input_shape: Shape, rank: int) -> None:
    if len(input_shape) != rank:
        raise ValueError(f"layer {layer.name!r} needs a rank-{rank} input, got {input_shape}")


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
    generator_input: Shape  # what the generator's first layer sees (z, maybe with a label)
    generator: tuple[Layer, ...]  # ends in the image shape, tanh
    discriminator_input: Shape  # what the discriminator's first layer sees
    discriminator: tuple[Layer, ...]  # ... -> features -> output (logit or class logits)
    # semi_supervised_baseline: ssgan's D trained on the labelled examples alone
    loss: Literal[
        "non_saturating_bce", "least_squares", "semi_supervised", "semi_supervised_baseline"
    ]
    g_optimizer: Adam = field(default_factory=Adam)
    d_optimizer: Adam = field(default_factory=Adam)
    d_steps_per_g_step: int = 1  # k in Goodfellow et al. 2014, Algorithm 1
    label_scale: float = 1.0  # conditional: the one-hot label is multiplied by this when joined
    preset: str = "paper"
    label_use: LabelUse = "none"  # how training and evaluation use labels (see LabelUse)

    def __post_init__(self) -> None:
        if self.label_use not in LABEL_USES:
            raise ValueError(
                f"{self.variant}: label_use {self.label_use!r}; allowed: {', '.join(LABEL_USES)}"
            )
        generated = network_shapes(self.generator, self.generator_input)[-1][2]
        if generated != self.image_shape:
            raise ValueError(f"{self.variant}: generator makes {generated}, not {self.image_shape}")
        network_shapes(self.discriminator, self.discriminator_input)

    @property
    def feature_shape(self) -> Shape:
        """Shape of discriminator_features(): the input of D's last layer."""
        return network_shapes(self.discriminator, self.discriminator_input)[-1][1]


def network_shapes(
    layers: tuple[Layer, ...], input_shape: Shape
) -> list[tuple[Layer, Shape, Shape]]:
    """(layer, input shape, output shape) for each layer of a network, in order."""
    shapes = []
    for layer in layers:
        produced = output_shape(layer, input_shape)
        shapes.append((layer, input_shape, produced))
        input_shape = produced
    return shapes


def networks(spec: GanSpec) -> Iterator[tuple[str, tuple[Layer, ...], Shape]]:
    """("generator", layers, input shape) and the same for the discriminator."""
    yield "generator", spec.generator, spec.generator_input
    yield "discriminator", spec.discriminator, spec.discriminator_input


def weight_shapes(spec: GanSpec) -> dict[str, Shape]:
    """Every parameter's shape in the neutral layout, keyed as get_weights() keys it."""
    shapes: dict[str, Shape] = {}
    for network, layers, input_shape in networks(spec):
        for layer, layer_input, _ in network_shapes(layers, input_shape):
            for param, shape in parameter_shapes(layer, layer_input).items():
                shapes[f"{network}.{layer.name}.{param}"] = shape
    return shapes


def trainable_count(spec: GanSpec, network: str) -> int:
    """Trainable parameters of one network (batch-norm moving statistics excluded)."""
    return sum(
        math.prod(shape)
        for key, shape in weight_shapes(spec).items()
        if key.startswith(f"{network}.") and key.rsplit(".", 1)[1] not in NON_TRAINABLE
    )


PRESETS: tuple[str, ...] = ("paper", "half", "tiny")


def unlabelled_inputs_spec(
    variant: str,
    image_shape: ImageShape,
    num_classes: int,
    latent_dim: int,
    generator: tuple[Layer, ...],
    discriminator: tuple[Layer, ...],
    **choices: Any,
) -> GanSpec:
    """A spec whose G reads z alone and whose D reads the image alone (every built-in but
    conditional); `choices` are the rest of GanSpec's fields (loss, optimisers, ...)."""
    return GanSpec(
        variant=variant,
        image_shape=image_shape,
        num_classes=num_classes,
        latent_dim=latent_dim,
        generator_input=(latent_dim,),
        generator=generator,
        discriminator_input=image_shape,
        discriminator=discriminator,
        **choices,
    )


def vanilla_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Goodfellow et al. 2014: MLP generator and discriminator, non-saturating loss.

    The paper's MNIST generator is z(100) -> 1200 ReLU -> 1200 ReLU -> 784; the
    output is tanh here because images live in [-1, 1]. The paper's maxout
    discriminator with dropout is replaced by LeakyReLU(0.2) layers without
    dropout (the common modern form), so that one training step is
    deterministic given the weights and the batch and the twins can be
    compared step for step. Adam(2e-4, beta1=0.5) as in DCGAN, for both nets.

    G's hidden layers are followed by BatchNorm (Ioffe & Szegedy 2015, as DCGAN
    and Salimans et al. 2016 put it in G): without it G collapsed on digits,
    classifier FID against the validation split 2,290 at 500 steps and 1,398 at
    1,000 (460 on the test split at 3,000), against 688 and 171 with it
    (torch, seed 0; reports/tuning/). "tiny" shrinks the widths for fast tests;
    parity tests use "paper".
    """
    g_width, d_widths = {
        "paper": (1200, (512, 256)),
        "half": (600, (256, 128)),
        "tiny": (64, (64, 32)),
    }[_check_preset(preset)]
    latent_dim = 100
    generator = (
        Dense("fc1", g_width, use_bias=False),  # BatchNorm's beta is the bias
        BatchNorm("fc1_bn", momentum=0.9, eps=1e-5, activation="relu"),
        Dense("fc2", g_width, use_bias=False),
        BatchNorm("fc2_bn", momentum=0.9, eps=1e-5, activation="relu"),
        Dense("out", math.prod(image_shape), "tanh"),
        Reshape(image_shape),
    )
    discriminator = (
        Flatten(),
        Dense("fc1", d_widths[0], "leaky_relu", leaky_slope=0.2),
        Dense("fc2", d_widths[1], "leaky_relu", leaky_slope=0.2),
        Dense("logit", 1),
    )
    return unlabelled_inputs_spec(
        "vanilla",
        image_shape,
        num_classes,
        latent_dim,
        generator,
        discriminator,
        loss="non_saturating_bce",
        preset=preset,
    )


def conditional_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Mirza & Osindero 2014: the vanilla MLPs with the one-hot label joined to z and to x.

    The paper feeds z and y through separate first layers (200 and 1000 units)
    before joining them; here the one-hot label is concatenated to the input
    of each network, the form most reimplementations use, and the widths are
    vanilla's so the report isolates the effect of conditioning.

    The one-hot is scaled by 10 when joined. Adam moves every weight by about
    the learning rate whatever its input, so a single 1 among 784 pixel inputs
    makes the label pathway learn slowly: measured on digits (tiny widths, 2000
    steps, 3 seeds), scale 1 left G ignoring the label (samples classified as
    the asked-for digit 10-11% of the time, chance) while scale 10 gave 97-100%.
    A learned label embedding (PyTorch-GAN's cgan) does the same job.

    G is the plain MLP, without vanilla's BatchNorm: the label already keeps it
    from collapsing (classifier FID 133, cond_accuracy 0.9995 at 3,000 steps).
    """
    base = vanilla_spec(image_shape, num_classes, preset)
    g_width = base.generator[0].units  # vanilla's G width at this preset
    generator = (
        Dense("fc1", g_width, "relu"),
        Dense("fc2", g_width, "relu"),
        Dense("out", math.prod(image_shape), "tanh"),
        Reshape(image_shape),
    )
    return GanSpec(
        variant="conditional",
        image_shape=image_shape,
        num_classes=num_classes,
        latent_dim=base.latent_dim,
        generator_input=(base.latent_dim + num_classes,),
        generator=generator,
        discriminator_input=(math.prod(image_shape) + num_classes,),
        discriminator=base.discriminator[1:],  # the variant flattens x before joining y
        loss="non_saturating_bce",
        label_scale=10.0,
        preset=preset,
        label_use="conditional",
    )


def dcgan_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Radford et al. 2015: all-convolutional G and D, BatchNorm, Adam(2e-4, beta1=0.5).

    G: z -> dense projection to a base map (7x7 for 28x28 images, 4x4 for
    32x32), then stride-2 transposed convolutions (kernel 4, padding 1) that
    double the size, BatchNorm + ReLU after each but the last, tanh out.
    D: stride-2 convolutions (kernel 4, padding 1), LeakyReLU(0.2), BatchNorm
    on all but the first, no pooling, then one dense logit. Weights from
    N(0, 0.02) as in the paper; BatchNorm momentum 0.9 (Keras convention) and
    eps 1e-5 in both frameworks.
    """
    height, width, channels = image_shape
    base = _dcgan_base(height)
    if width != height:
        raise ValueError(f"dcgan needs square images, got {image_shape}")
    doublings = int(math.log2(height // base))
    widest = {"paper": 64, "half": 32, "tiny": 8}[_check_preset(preset)] * 2**doublings
    latent_dim = 100
    generator: list[Layer] = [
        Dense("project", base * base * widest, use_bias=False, initializer="normal_0.02"),
        BatchNorm("project_bn", activation="relu"),
        Reshape((base, base, widest)),
    ]
    filters = widest
    for index in range(1, doublings):
        filters //= 2
        generator += [
            Conv(f"up{index}", filters, 4, 2, 1, transpose=True, use_bias=False),
            BatchNorm(f"up{index}_bn", activation="relu"),
        ]
    generator.append(Conv("out", channels, 4, 2, 1, transpose=True, activation="tanh"))
    discriminator: list[Layer] = []
    filters = widest // 2**doublings
    for index in range(1, doublings + 1):
        if index == 1:
            discriminator.append(Conv("conv1", filters, 4, 2, 1, activation="leaky_relu"))
        else:
            discriminator += [
                Conv(f"conv{index}", filters, 4, 2, 1, use_bias=False),
                BatchNorm(f"conv{index}_bn", activation="leaky_relu"),
            ]
        filters *= 2
    discriminator += [Flatten(), Dense("logit", 1, initializer="normal_0.02")]
    return unlabelled_inputs_spec(
        "dcgan",
        image_shape,
        num_classes,
        latent_dim,
        tuple(generator),
        tuple(discriminator),
        loss="non_saturating_bce",
        preset=preset,
    )


def _dcgan_base(height: int) -> int:
    """The generator's first map size: 7 for 28 (MNIST), 4 for 32 (CIFAR), 4 for 64."""
    for base in (7, 4):
        if height % base == 0 and (height // base) & (height // base - 1) == 0 and height > base:
            return base
    raise ValueError(f"dcgan needs an image size of 7 or 4 times a power of two, got {height}")


def lsgan_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Mao et al. 2017: exactly dcgan's networks; only the loss differs (a=0, b=1, c=1)."""
    return replace(
        dcgan_spec(image_shape, num_classes, preset), variant="lsgan", loss="least_squares"
    )


def ssgan_spec(image_shape: ImageShape, num_classes: int, preset: str = "paper") -> GanSpec:
    """Salimans et al. 2016, semi-supervised: D has K class logits, G trained by feature matching.

    The fake class is the implicit (K+1)-th with its logit fixed at 0, so D's
    output is K logits. D is an MLP (as in the paper's MNIST model) whose last
    hidden layer is the feature-matching target; G is an MLP with BatchNorm.
    The paper's Gaussian noise layers and weight normalisation are left out so
    that one training step is deterministic and the twins compare exactly.
    Adam's learning rate is 5e-4 for both networks, chosen on the validation
    split (100 labels, 1,500 steps of 100 images, torch, seed 0): accuracy
    0.886 / 0.930 / 0.928 at 2e-4 / 5e-4 / 1e-3; the supervised-only baseline,
    given the same three tries, also chose 5e-4 (reports/tuning/ssgan.json).
    """
    g_width, d_widths = {
        "paper": (500, (512, 256, 256)),
        "half": (250, (256, 128, 128)),
        "tiny": (64, (64, 32, 32)),
    }[_check_preset(preset)]
    latent_dim = 100
    generator = (
        Dense("fc1", g_width, use_bias=False),
        BatchNorm("fc1_bn", activation="relu"),
        Dense("fc2", g_width, use_bias=False),
        BatchNorm("fc2_bn", activation="relu"),
        Dense("out", math.prod(image_shape), "tanh"),
        Reshape(image_shape),
    )
    discriminator = (
        Flatten(),
        Dense("fc1", d_widths[0], "leaky_relu"),
        Dense("fc2", d_widths[1], "leaky_relu"),
        Dense("features", d_widths[2], "leaky_relu"),
        Dense("class_logits", num_classes),
    )
    return unlabelled_inputs_spec(
        "ssgan",
        image_shape,
        num_classes,
        latent_dim,
        generator,
        discriminator,
        loss="semi_supervised",
        g_optimizer=Adam(learning_rate=5e-4),  # chosen on validation (docstring)
        d_optimizer=Adam(learning_rate=5e-4),
        preset=preset,
        label_use="semi_supervised",
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
register_spec("conditional", conditional_spec)
register_spec("dcgan", dcgan_spec)
register_spec("lsgan", lsgan_spec)
register_spec("ssgan", ssgan_spec)


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
