"""DCGAN (Radford et al. 2015) in TensorFlow: all-convolutional G and D with BatchNorm.

The networks come from spec.dcgan_spec (transposed convolutions up from a
dense projection; strided convolutions down, LeakyReLU(0.2), no pooling);
the training step is vanilla's non-saturating one with Adam(2e-4, beta1=0.5).
lsgan builds on this module and changes only the loss.
"""

from __future__ import annotations

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.tf.vanilla import VanillaGAN


class DCGAN(VanillaGAN):
    """Convolutional networks from the spec, trained with the non-saturating loss."""


def build(spec: GanSpec, options: BuildOptions) -> DCGAN:
    return DCGAN(spec, options)
