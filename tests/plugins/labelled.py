"""A labelled variant from outside the tree, to prove a new variant is 2 files + 1 spec entry.

Loaded through GANBENCH_PLUGINS=tests.plugins.labelled. `labelled_mlp` is a small
conditional MLP GAN of its own widths: its spec (below, the one spec entry) says
`label_use="conditional"`, and its two implementations are labelled_torch.py and
labelled_tf.py. Nothing in bench/ or reports/ names it: the harness gives it labels,
evaluates its conditional accuracy, counts its FLOPs, and the report and `compare` show
it, all from the spec. This module imports no framework, so the driver that loads it
stays framework-free.
"""

from __future__ import annotations

import math

from implementations.registry import register
from implementations.spec import Dense, GanSpec, ImageShape, Reshape, register_spec

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


register_spec(VARIANT, labelled_mlp_spec)
register("torch", VARIANT, "tests.plugins.labelled_torch:build")
register("tf", VARIANT, "tests.plugins.labelled_tf:build")
