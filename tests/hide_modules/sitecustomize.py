"""Make the packages named in GANBENCH_TEST_HIDDEN_MODULES impossible to import.

Put this folder first on PYTHONPATH and Python runs this file at start-up (the `site`
module imports `sitecustomize`), in the CLI process and in every worker it starts (they
inherit PYTHONPATH and the variable). Each named package is entered in sys.modules as
None, Python's own "not importable" marker: `import tensorflow` raises
ModuleNotFoundError, and importlib.util.find_spec returns None, as on a machine where the
package is not installed (libraries that probe for it with find_spec keep working). Their
metadata (importlib.metadata) is still visible: only imports fail.
"""

from __future__ import annotations

import os
import sys

for name in os.environ.get("GANBENCH_TEST_HIDDEN_MODULES", "").split(","):
    if name.strip():
        sys.modules[name.strip()] = None  # type: ignore[assignment]
