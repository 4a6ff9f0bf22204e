"""Atomic file writes: through a temporary file in the same folder, flushed to disk, then renamed into place,
so that a reader (or a run resumed after a kill) never sees half a file.

The written file gets the permissions an ordinary ``open(path, "w")`` would give a new file (``0o666`` less the
umask), not the owner-only ``0o600`` of the temporary file, so that other users and CI jobs can read a corpus or log.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask: read from ``/proc/self/status`` where Linux shows it, else by setting it and setting it
    back (under a lock; another thread creating a file in that instant would get umask 022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path``, creating its folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj: object) -> None:
    """Write ``obj`` as JSON (UTF-8, non-ASCII kept) to ``path``."""
    write_atomic(path, json.dumps(obj, ensure_ascii=False))
