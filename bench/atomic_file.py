"""Write a results file atomically, with the permissions any other tool would give it.

Rows, baselines and the report are written to a hidden temporary file in the target's
folder and renamed over it, so a reader (a browser, `compare`, a concurrent driver) sees
the old file or the new one, never half of either. The temporary file is created like
any new file, mode 0666 less the user's umask (0644 under umask 022), not 0600 as
`tempfile.mkstemp` makes it, so a results folder on a shared disk is readable by the team.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

NEW_FILE_MODE = 0o666  # what open(..., "w") asks for; the kernel removes the umask's bits


def write_text_atomically(path: Path, text: str) -> Path:
    """Replace `path` with `text` (UTF-8) in one rename; on any error the target is as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path
