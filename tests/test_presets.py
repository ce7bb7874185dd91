"""The spec presets: "half" is the paper's networks at half their hidden widths, nothing else.

The standard suite trains dcgan, lsgan and conditional at "half" to fit its 30 minutes;
a reader of its rows must be able to trust that only the widths changed.
"""

from __future__ import annotations

import dataclasses

import pytest

from implementations import registry
from implementations.spec import Conv, Dense, make_spec

MNIST_SHAPE, CLASSES = (28, 28, 1), 10


def width(layer: Dense | Conv) -> int:
    return layer.units if isinstance(layer, Dense) else layer.filters


@pytest.mark.parametrize("variant", registry.variants())
def test_half_halves_every_hidden_width_and_keeps_the_rest_of_the_paper_spec(variant):
    paper = make_spec(variant, MNIST_SHAPE, CLASSES, "paper")
    half = make_spec(variant, MNIST_SHAPE, CLASSES, "half")
    for network in ("generator", "discriminator"):
        paper_layers, half_layers = getattr(paper, network), getattr(half, network)
        assert [type(layer) for layer in half_layers] == [type(layer) for layer in paper_layers]
        weighted = [i for i, layer in enumerate(paper_layers) if isinstance(layer, Dense | Conv)]
        for index, (p, h) in enumerate(zip(paper_layers, half_layers, strict=True)):
            if index in weighted[:-1]:  # hidden: half as wide, otherwise the same layer
                assert 2 * width(h) == width(p), (network, p.name)
                field = "units" if isinstance(p, Dense) else "filters"
                assert dataclasses.replace(h, **{field: width(p)}) == p
            elif index == weighted[-1]:  # the output layer: what the data and loss fix
                assert h == p
    assert (
        dataclasses.replace(
            half, generator=paper.generator, discriminator=paper.discriminator, preset="paper"
        )
        == paper
    )
