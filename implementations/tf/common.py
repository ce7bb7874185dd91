"""What every TensorFlow twin shares: networks from the spec, weights, sampling.

A variant module subclasses `TfGAN` and writes only its losses and its
train_step; everything here has a line-for-line twin in implementations/torch/common.py.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import keras
import numpy as np
import tensorflow as tf

from implementations.api import BuildOptions, UnsupportedOperationError, check_weights, latent_noise
from implementations.spec import Adam, Dense, GanSpec, Layer, layer_inputs, weight_shapes

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
        return keras.initializers.GlorotUniform(seed=seed)
    if initializer == "normal_0.02":
        return keras.initializers.RandomNormal(mean=0.0, stddev=0.02, seed=seed)
    raise ValueError(f"unknown initializer {initializer!r}")


def activate(x: tf.Tensor, layer: Dense) -> tf.Tensor:
    """The layer's activation, with every parameter taken from the spec."""
    if layer.activation == "relu":
        return tf.nn.relu(x)
    if layer.activation == "leaky_relu":
        return tf.nn.leaky_relu(x, alpha=layer.leaky_slope)
    if layer.activation == "tanh":
        return tf.tanh(x)
    if layer.activation == "sigmoid":
        return tf.sigmoid(x)
    return x


class SpecMLP:
    """A stack of dense layers built from spec entries, named after them."""

    def __init__(self, layers: tuple[Layer, ...], in_features: int, seeds: np.random.Generator):
        self.specs = layers
        self.dense: dict[str, keras.layers.Dense] = {}
        for layer, width_in in zip(layers, layer_inputs(in_features, layers), strict=True):
            linear = keras.layers.Dense(
                layer.units,
                kernel_initializer=init_kernel(layer.initializer, int(seeds.integers(2**31))),
                bias_initializer="zeros",
                name=layer.name,
            )
            linear.build((None, width_in))
            self.dense[layer.name] = linear

    def forward_with_features(self, x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The output and the activations that feed the last layer."""
        features = x
        for layer in self.specs[:-1]:
            features = activate(self.dense[layer.name](features), layer)
        last = self.specs[-1]
        return activate(self.dense[last.name](features), last), features

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return self.forward_with_features(x)[0]

    @property
    def trainable_variables(self) -> list[tf.Variable]:
        return [v for linear in self.dense.values() for v in linear.trainable_variables]


def make_adam(variables: list[tf.Variable], settings: Adam) -> keras.optimizers.Adam:
    """Adam with every setting from the spec."""
    optimizer = keras.optimizers.Adam(
        learning_rate=settings.learning_rate,
        beta_1=settings.beta1,
        beta_2=settings.beta2,
        epsilon=settings.eps,
    )
    optimizer.build(variables)
    return optimizer


class TfGAN:
    """The protocol's shared half for TensorFlow; variants add train_step."""

    framework = "tf"

    def __init__(self, spec: GanSpec, options: BuildOptions):
        self.variant = spec.variant
        self.spec = spec
        self.options = options
        self.device = resolve_device(options.device)
        init_generator = np.random.default_rng(options.seed)
        with tf.device(self.device):
            self.generator = SpecMLP(spec.generator, spec.latent_dim, init_generator)
            self.discriminator = SpecMLP(spec.discriminator, spec.image_size, init_generator)
            self.g_optimizer = make_adam(self.generator.trainable_variables, spec.g_optimizer)
            self.d_optimizer = make_adam(self.discriminator.trainable_variables, spec.d_optimizer)
            # The training noise stream lives on the device: no host copy per step.
            self.noise_generator = tf.random.Generator.from_seed(options.seed + 1)
        # What train_step calls: the variant's step traced into a graph, XLA when compiled.
        self.compiled_step = tf.function(
            self.train_step_graph, jit_compile=options.compile == "compiled"
        )
        self.last_losses: dict[str, tf.Tensor] = {}

    def describe_compile(self) -> str:
        return "tf.function + XLA" if self.options.compile == "compiled" else "tf.function"

    def noise(self, n: int) -> tf.Tensor:
        """z ~ N(0, 1) for training, drawn on the device from the run's seeded stream."""
        return self.noise_generator.normal((n, self.spec.latent_dim))

    def train_step_graph(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        raise UnsupportedOperationError(f"{type(self).__name__} defines no train_step_graph")

    def train_step(
        self, images: tf.Tensor, labels: tf.Tensor, labelled_mask: tf.Tensor
    ) -> dict[str, tf.Tensor]:
        with tf.device(self.device):
            self.last_losses = self.compiled_step(images, labels, labelled_mask)
        return self.last_losses

    def to_device(
        self, images: np.ndarray, labels: np.ndarray, labelled_mask: np.ndarray | None = None
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        if labelled_mask is None:
            labelled_mask = np.ones(len(labels), dtype=bool)
        with tf.device(self.device):
            return (
                tf.identity(tf.constant(np.asarray(images, dtype=np.float32))),
                tf.identity(tf.constant(np.asarray(labels, dtype=np.int64))),
                tf.identity(tf.constant(np.asarray(labelled_mask, dtype=bool))),
            )

    def synchronize(self) -> None:
        # Reading a value back waits for every op it depends on, including the updates.
        for loss in self.last_losses.values():
            loss.numpy()
        if self.device != "/CPU:0":
            tf.test.experimental.sync_devices()

    def sample(self, n: int, labels: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        z_all = latent_noise(n, self.spec.latent_dim, seed)
        chunks = []
        with tf.device(self.device):
            for start in range(0, n, EVAL_CHUNK):
                z = tf.constant(z_all[start : start + EVAL_CHUNK])
                chunks.append(self.generator(z).numpy())
        flat = np.concatenate(chunks) if chunks else np.zeros((0, self.spec.image_size))
        return flat.reshape((n, *self.spec.image_shape)).astype(np.float32)

    def _discriminator_outputs(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logits, features = [], []
        with tf.device(self.device):
            for start in range(0, len(images), EVAL_CHUNK):
                chunk = np.asarray(images[start : start + EVAL_CHUNK], dtype=np.float32)
                x = tf.constant(chunk.reshape(len(chunk), -1))
                chunk_logits, chunk_features = self.discriminator.forward_with_features(x)
                logits.append(chunk_logits.numpy())
                features.append(chunk_features.numpy())
        return np.concatenate(logits), np.concatenate(features)

    def discriminate(self, images: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        return self._discriminator_outputs(images)[0].reshape(-1)

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

    def _named_dense(self) -> Iterator[tuple[str, keras.layers.Dense]]:
        for network_name, network in (
            ("generator", self.generator),
            ("discriminator", self.discriminator),
        ):
            for layer_name, linear in network.dense.items():
                yield f"{network_name}.{layer_name}", linear

    def get_weights(self) -> dict[str, np.ndarray]:
        weights = {}
        for key, linear in self._named_dense():
            # Keras keeps (in, out), which is the neutral layout.
            weights[f"{key}.kernel"] = linear.kernel.numpy().copy()
            weights[f"{key}.bias"] = linear.bias.numpy().copy()
        return weights

    def set_weights(self, weights: Mapping[str, np.ndarray]) -> None:
        check_weights(weights, weight_shapes(self.spec))
        for key, linear in self._named_dense():
            linear.kernel.assign(np.asarray(weights[f"{key}.kernel"], dtype=np.float32))
            linear.bias.assign(np.asarray(weights[f"{key}.bias"], dtype=np.float32))

    def device_name(self) -> str:
        if self.device == "/CPU:0":
            return "cpu"
        gpu = tf.config.list_physical_devices("GPU")[0]
        return tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)

    def device_peak_mem_mb(self) -> float | None:
        if self.device == "/CPU:0":
            return None
        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
