"""The spec of the labelled plugin variant, importable without registering it.

tests/plugins/labelled.py registers this builder and the two implementations; a test
that only needs the spec's shapes imports this module, so that collecting it does not
add `labelled_mlp` to the registry of every pytest worker (then every suite that says
"all variants" would grow a variant).
"""

from __future__ import annotations

import math

from implementations.spec import Dense, GanSpec, ImageShape, Reshape

VARIANT = "labelled_mlp"


def labelled_mlp_spec(image_shape: ImageShape, num_classes: int, preset: str) -> GanSpec:
    """z and the one-hot label -> 48 ReLU -> image; image and label -> 48 LeakyReLU -> logit."""
    width = {"paper": 256, "tiny": 48}[preset]
    latent_dim = 32
    return GanSpec(
        variant=VARIANT,
        image_shape=image_shape,
        num_classes=num_classes,
        latent_dim=latent_dim,
        generator_input=(latent_dim + num_classes,),
        generator=(
            Dense("fc1", width, "relu"),
            Dense("out", math.prod(image_shape), "tanh"),
            Reshape(image_shape),
        ),
        discriminator_input=(math.prod(image_shape) + num_classes,),
        discriminator=(Dense("fc1", width, "leaky_relu"), Dense("logit", 1)),
        loss="non_saturating_bce",
        label_scale=10.0,
        preset=preset,
        label_use="conditional",
    )
