"""labelled_mlp in PyTorch: conditional's label path on the plugin's own networks."""

from __future__ import annotations

from implementations.api import BuildOptions
from implementations.spec import GanSpec
from implementations.torch.conditional import ConditionalGAN


class LabelledMlpGAN(ConditionalGAN):
    """The networks come from the plugin's spec; the one-hot joins z and x as in conditional."""


def build(spec: GanSpec, options: BuildOptions) -> LabelledMlpGAN:
    return LabelledMlpGAN(spec, options)
