"""What every TensorFlow twin shares: networks from the spec, weights, sampling.

A variant module subclasses `TfGAN` and writes only its losses and its
train_step; everything here has a line-for-line twin in implementations/torch/common.py.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf
from keras import ops

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


def resolve_device(device: str) -> str:
    """The tf device for a run; asking for a GPU that is not there is an error."""
    if device == "cuda":
        if not tf.config.list_physical_devices("GPU"):
            raise RuntimeError(
                "device 'cuda' requested but tensorflow sees no GPU; use --device cpu"
            )
        return "/GPU:0"
    return "/CPU:0"


def init_kernel(initializer: str, seed: int) -> keras.initializers.Initializer:
    """Initialise a kernel from the spec's named distribution (not Keras's default)."""
    if initializer == "glorot_uniform":
        # torch computes fans from dims 0 and 1 of (out, in, kh, kw) conv kernels, as Keras
        # does from (kh, kw, in, out): fan = channels * receptive field, the same law.
        return keras.initializers.GlorotUniform(seed=seed)
    if initializer == "normal_0.02":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)
    raise ValueError(f"unknown initializer {initializer!r}")


def activate(x: tf.Tensor, layer: Layer) -> tf.Tensor:
    """The layer's activation, with every parameter taken from the spec."""
    activation = getattr(layer, "activation", "linear")
    if activation == "relu":
        return tf.nn.relu(x)
    if activation == "leaky_relu":
        return tf.nn.leaky_relu(x, alpha=layer.leaky_slope)
    if activation == "tanh":
        return tf.tanh(x)
    if activation == "sigmoid":
        return tf.sigmoid(x)
    return x


def make_module(
    layer: Layer, input_shape: Shape, seeds: np.random.Generator, dtype: str = "float32"
) -> keras.layers.Layer | None:
    """The Keras layer for one spec layer (None for reshapes), initialised from the spec.

    `dtype` is the Keras dtype policy: "float32", or "mixed_bfloat16" (bf16 compute,
    float32 variables).
    """
    if isinstance(layer, Dense | Conv):
        weighted = {
            "use_bias": layer.use_bias,
            "kernel_initializer": init_kernel(layer.initializer, int(seeds.integers(2**31))),
            "bias_initializer": "zeros",
            "name": layer.name,
            "dtype": dtype,
        }
    if isinstance(layer, Dense):
        module = keras.layers.Dense(layer.units, **weighted)
    elif isinstance(layer, Conv):
        # Padding as Conv in spec.py defines it: torch's own; in Keras, by hand around "valid".
        conv_class = keras.layers.Conv2DTranspose if layer.transpose else keras.layers.Conv2D
        module = conv_class(
            layer.filters, layer.kernel, strides=layer.stride, padding="valid", **weighted
        )
    elif isinstance(layer, BatchNorm):
        # Keyword arguments: the second positional argument of BatchNorm is eps.
        module = keras.layers.BatchNormalization(
            axis=-1,
            momentum=layer.momentum,
            epsilon=layer.eps,
            gamma_initializer="ones",
            beta_initializer="zeros",
            name=layer.name,
            dtype=dtype,
        )
    else:
        return None
    module.build((None, *input_shape))
    return module


class SpecNet:
    """A network built from spec layers, named after them.

    Inputs, outputs and every map inside are NHWC, Keras's own layout, so
    reshapes and flattens need no reordering here.
    """

    def __init__(
        self,
        layers: tuple[Layer, ...],
        input_shape: Shape,
        seeds: np.random.Generator,
        dtype: str = "float32",
    ):
        self.specs = layers
        self.dtype = dtype  # bf16: layers compute in it, outputs are fp32
        self.layers: dict[str, keras.layers.Layer] = {}
        for layer, layer_input, _ in network_shapes(layers, input_shape):
            module = make_module(layer, layer_input, seeds, dtype)
            if module is not None:
                self.layers[layer.name] = module

    def forward_with_features(
        self, x: tf.Tensor, training: bool = False
    ) -> tuple[tf.Tensor, tf.Tensor]:
        """The output (NHWC) and the last layer's input, flattened in (H, W, C) order."""
        # Maps are NHWC at both ends; inside, NCHW in torch (its fastest), NHWC in Keras.
        features = x
        for layer in self.specs:
            features = x
            x = activate(self.apply_layer(layer, x, training), layer)
        features = tf.reshape(features, (tf.shape(features)[0], -1))
        # bf16 compute -> fp32
        return tf.cast(x, tf.float32), tf.cast(features, tf.float32)

    def apply_layer(self, layer: Layer, x: tf.Tensor, training: bool) -> tf.Tensor:
        if isinstance(layer, Reshape):
            return tf.reshape(x, (-1, *layer.shape))
        if isinstance(layer, Flatten):
            return tf.reshape(x, (tf.shape(x)[0], -1))
        if isinstance(layer, Conv) and layer.padding and not layer.transpose:
            pad = layer.padding
            x = tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        if isinstance(layer, BatchNorm):
            return self.layers[layer.name](x, training=training)
        y = self.layers[layer.name](x)
        if isinstance(layer, Conv) and layer.padding and layer.transpose:
            crop = layer.padding
            y = y[:, crop:-crop, crop:-crop, :]
        return y

    def __call__(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.forward_with_features(x, training)[0]

    @property
    def trainable_variables(self) -> list[tf.Variable]:
        return [v for module in self.layers.values() for v in module.trainable_variables]


class PaperAdam(keras.optimizers.Adam):
    """Keras's Adam with epsilon where torch and Kingma & Ba's Algorithm 1 put it.

    Algorithm 1 (and torch.optim.Adam) divide by sqrt(v_hat) + eps, v_hat the bias-corrected
    second moment; Keras by sqrt(v) + eps, an effective eps 1 / sqrt(1 - beta2^t) times
    larger (31.6x at step 1 with beta2 = 0.999). Weights whose gradient is near eps then
    take different steps: over 50 steps (tiny vanilla) the twins ended 2% apart in their
    weight updates, 200x the gap with this update (tests/test_twin_training.py).
    """

    def update_step(self, gradient: tf.Tensor, variable: tf.Variable, learning_rate) -> None:
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        local_step = ops.cast(self.iterations + 1, variable.dtype)
        beta_1_power = ops.power(ops.cast(self.beta_1, variable.dtype), local_step)
        beta_2_power = ops.power(ops.cast(self.beta_2, variable.dtype), local_step)
        m = self._momentums[self._get_variable_index(variable)]
        v = self._velocities[self._get_variable_index(variable)]
        self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
        self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))
        # torch's order: step = lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
        denominator = ops.add(ops.divide(ops.sqrt(v), ops.sqrt(1 - beta_2_power)), self.epsilon)
        step_size = lr / (1 - beta_1_power)
        self.assign_sub(variable, ops.multiply(ops.divide(m, denominator), step_size))


def make_adam(variables: list[tf.Variable], settings: Adam) -> keras.optimizers.Adam:
    """Adam with every setting from the spec, and epsilon placed as torch places it."""
    optimizer = PaperAdam(
        learning_rate=settings.learning_rate,
        beta_1=settings.beta1,
        beta_2=settings.beta2,
        epsilon=settings.eps,
    )
    optimizer.build(variables)
    return optimizer


def set_determinism(enabled: bool) -> dict[str, str]:
    """Deterministic kernels, process-wide, when asked; returns what is now set.

    Only ever turned on (TensorFlow's switch has no public "off"), so another model built
    later in the same process cannot undo the run's request. It also makes tf.data
    deterministic and makes ops with no deterministic GPU kernel raise.
    """
    if enabled:
        tf.config.experimental.enable_op_determinism()
    return {
        "tf.config.experimental.enable_op_determinism": "called" if enabled else "not called",
        "TF_DETERMINISTIC_OPS": os.environ.get("TF_DETERMINISTIC_OPS", ""),
    }


class TfGAN:
    """The protocol's shared half for TensorFlow; variants add train_step, traced here."""

    framework = "tf"

    def __init__(self, spec: GanSpec, options: BuildOptions):
        self.variant = spec.variant
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        if options.compile == "cudagraphs":
            raise UnsupportedOperationError(
                "compile mode 'cudagraphs' is torch's; TensorFlow's compiled mode is XLA "
                "('compiled')"
            )
        tf.config.experimental.enable_tensor_float_32_execution(options.tf32)
        self.determinism = set_determinism(options.deterministic)
        dtype = "mixed_bfloat16" if options.precision == "bf16" else "float32"
        init_generator = np.random.default_rng(options.seed)
        with tf.device(self.device):
            self.generator = SpecNet(spec.generator, spec.generator_input, init_generator, dtype)
            self.discriminator = SpecNet(
                spec.discriminator, spec.discriminator_input, init_generator, dtype
            )
            self.g_optimizer = make_adam(self.generator.trainable_variables, spec.g_optimizer)
            self.d_optimizer = make_adam(self.discriminator.trainable_variables, spec.d_optimizer)
            # The training noise stream lives on the device: no host copy per step.
            self.noise_generator = tf.random.Generator.from_seed(options.seed + 1)
        # What the harness calls: torch.compile wraps the modules (not the optimiser) when
        # compiled; tf.function traces the variant's whole train_step (XLA when compiled).
        self.compiled_step = tf.function(self.train_step, jit_compile=options.compile == "compiled")
        self.train_step = self.run_compiled_step
        self.last_losses: dict[str, tf.Tensor] = {}

    def run_facts(self) -> RunFacts:
        on_accelerator = self.device != "/CPU:0"
        gpu = tf.config.list_physical_devices("GPU")[0] if on_accelerator else None
        compile_detail = (
            "tf.function + XLA" if self.options.compile == "compiled" else "tf.function"
        )
        return RunFacts(
            device_name=(
                tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                if gpu is not None
                else "cpu"
            ),
            peak_mem_mb=(
                tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
                if on_accelerator
                else None
            ),
            compile_detail=compile_detail,
            optimizer_detail=f"keras.optimizers.Adam, inside the step's graph ({compile_detail})",
            determinism_settings=dict(self.determinism),
        )

    def noise(self, n: int) -> tf.Tensor:
        """z ~ N(0, 1) for training, drawn on the device from the run's seeded stream."""
        return self.noise_generator.normal((n, self.spec.latent_dim))

    def run_compiled_step(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        """The protocol's train_step: the variant's train_step as a graph, on the run's device."""
        with tf.device(self.device):
            self.last_losses = self.compiled_step(images, labels, labelled_mask)
        return self.last_losses

    def to_device(
        self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        with tf.device(self.device):
            return (
                tf.identity(tf.constant(np.asarray(images, dtype=np.float32))),
                tf.identity(tf.constant(np.asarray(labels, dtype=np.int64))),
                tf.identity(tf.constant(np.asarray(labelled_mask, dtype=bool))),
            )

    def synchronize(self) -> None:
        """Reading a value back waits for every op it depends on, including the updates."""
        for loss in self.last_losses.values():
            loss.numpy()
        if self.device != "/CPU:0":
            tf.test.experimental.sync_devices()

    def generator_input(self, z: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        """What the generator's first layer sees; conditional variants add the label."""
        return z

    def discriminator_input(self, images: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        """What the discriminator's first layer sees; conditional variants add the label."""
        return images

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        z_all = latent_noise(n, self.spec.latent_dim, seed)
        chunks = []
        with tf.device(self.device):
            for start in range(0, n, EVAL_CHUNK):
                z = tf.constant(z_all[start : start + EVAL_CHUNK])
                chunk_labels = (
                    None if labels is None else self._labels(labels[start : start + EVAL_CHUNK])
                )
                chunks.append(self.generator(self.generator_input(z, chunk_labels)).numpy())
        if not chunks:
            return np.zeros((0, *self.spec.image_shape), dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32)

    def _discriminator_outputs(
        self, images: np.ndarray, labels: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        outputs, features = [], []
        with tf.device(self.device):
            for start in range(0, len(images), EVAL_CHUNK):
                chunk = np.asarray(images[start : start + EVAL_CHUNK], dtype=np.float32)
                x = tf.constant(chunk)
                chunk_labels = (
                    None if labels is None else self._labels(labels[start : start + EVAL_CHUNK])
                )
                chunk_outputs, chunk_features = self.discriminator.forward_with_features(
                    self.discriminator_input(x, chunk_labels)
                )
                outputs.append(chunk_outputs.numpy())
                features.append(chunk_features.numpy())
        return np.concatenate(outputs), np.concatenate(features)

    def _labels(self, labels: np.ndarray) -> tf.Tensor:
        return tf.constant(np.asarray(labels, dtype=np.int64))

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self._discriminator_outputs(images, labels)[0].reshape(-1)

    def discriminator_features(self, images: np.ndarray) -> np.ndarray:
        return self._discriminator_outputs(images)[1]

    def classify(self, images: np.ndarray) -> np.ndarray:
        raise UnsupportedOperationError(f"classify() is defined for ssgan only, not {self.variant}")

    def num_params(self) -> dict[str, int]:
        return {
            "generator": sum(int(np.prod(v.shape)) for v in self.generator.trainable_variables),
            "discriminator": sum(
                int(np.prod(v.shape)) for v in self.discriminator.trainable_variables
            ),
        }

    def _named_modules(self) -> Iterator[tuple[str, keras.layers.Layer]]:
        for network_name, network in (
            ("generator", self.generator),
            ("discriminator", self.discriminator),
        ):
            for layer_name, module in network.layers.items():
                yield f"{network_name}.{layer_name}", module

    def get_weights(self) -> dict[str, np.ndarray]:
        weights = {}
        for key, module in self._named_modules():
            for param, variable in neutral_parameters(module).items():
                weights[f"{key}.{param}"] = variable.numpy().copy()
        return weights

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        check_weights(weights, weight_shapes(self.spec))
        for key, module in self._named_modules():
            for param, variable in neutral_parameters(module).items():
                variable.assign(np.asarray(weights[f"{key}.{param}"], dtype=np.float32))


def neutral_parameters(module: keras.layers.Layer) -> dict[str, tf.Variable]:
    """A layer's variables in the neutral layout, which is Keras's own: no reordering."""
    if isinstance(module, keras.layers.BatchNormalization):
        return {
            "gamma": module.gamma,
            "beta": module.beta,
            "moving_mean": module.moving_mean,
            "moving_variance": module.moving_variance,
        }
    params = {"kernel": module.kernel}
    if module.bias is not None:
        params["bias"] = module.bias
    return params
