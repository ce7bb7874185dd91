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

from implementations.registry import register
from implementations.spec import register_spec
from tests.plugins.labelled_spec import VARIANT, labelled_mlp_spec

register_spec(VARIANT, labelled_mlp_spec)
register("torch", VARIANT, "tests.plugins.labelled_torch:build")
register("tf", VARIANT, "tests.plugins.labelled_tf:build")
