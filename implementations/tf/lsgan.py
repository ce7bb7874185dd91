"""LSGAN (Mao et al. 2017) in TensorFlow: DCGAN's networks with the least-squares loss.

With a = 0 (fake), b = 1 (real) and c = 1 (what G wants D to say), the
losses of equation (2) of the paper, on D's raw (linear) output:
D: 1/2 E[(D(x) - 1)^2] + 1/2 E[D(G(z))^2]; G: 1/2 E[(D(G(z)) - 1)^2].
Everything else is dcgan's, so a comparison isolates the loss.
"""

from __future__ import annotations

import tensorflow as tf

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.tf.dcgan import DCGAN

REAL_TARGET_B = 1.0
FAKE_TARGET_A = 0.0
GENERATOR_TARGET_C = 1.0


def discriminator_loss(real_outputs: tf.Tensor, fake_outputs: tf.Tensor) -> tf.Tensor:
    """1/2 E[(D(x) - b)^2] + 1/2 E[(D(G(z)) - a)^2]."""
    real_loss = 0.5 * tf.reduce_mean((real_outputs - REAL_TARGET_B) ** 2)
    fake_loss = 0.5 * tf.reduce_mean((fake_outputs - FAKE_TARGET_A) ** 2)
    return real_loss + fake_loss


def generator_loss(fake_outputs: tf.Tensor) -> tf.Tensor:
    """1/2 E[(D(G(z)) - c)^2]."""
    return 0.5 * tf.reduce_mean((fake_outputs - GENERATOR_TARGET_C) ** 2)


class LSGAN(DCGAN):
    """DCGAN with the least-squares losses."""

    d_loss_function = staticmethod(discriminator_loss)
    g_loss_function = staticmethod(generator_loss)


def build(spec: GanSpec, options: BuildOptions) -> LSGAN:
    return LSGAN(spec, options)
