"""Suite files for tests that run `python -m bench run`: tiny models, a few dozen steps."""

from __future__ import annotations

import json
from pathlib import Path

TINY = {
    "dataset": "digits",
    "frameworks": ["torch"],
    "steps": 40,
    "warmup_steps": 5,
    "timing_windows": 5,
    "spec_preset": "tiny",
    "threads": 1,
    "eval_points": 1,
    "eval_samples": 200,
    "inception_fid": False,
    "timeout_s": 300,
}


def write_suite(folder: Path, stem: str, /, **keys: object) -> Path:
    """FOLDER/STEM.toml: TINY with `keys` on top (JSON values are valid TOML for these).

    The suite's name is STEM unless `keys` names it.
    """
    path = Path(folder) / f"{stem}.toml"
    values = {**TINY, **keys}
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    return path
