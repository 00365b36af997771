"""Files only their owner may read: the store, the signing secret, the simulator's state.

`.cloud/cloud.db` holds password, API-key and refresh-token hashes and the audit log;
the simulator's state holds stack outputs. Created with the default umask they were
0644, readable by every account on the machine. Here a folder is created 0700 and a
file 0600 (the mode is given to `open`/`mkdir` themselves, so there is no moment when a
file exists readable by others), and a file found with a looser mode is tightened.
SQLite creates a database's `-wal` and `-shm` files with the database file's own mode.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def private_dir(path: Path, *, tighten: bool = True) -> Path:
    """`path` as a folder, each missing level created 0700; an existing `path` is made
    0700 too when `tighten` (a folder that is ours alone, like `.cloud/`)."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            folder.mkdir(mode=PRIVATE_DIR)
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is filtered by the umask
    if tighten and not missing and path.is_dir() and _loose(path, 0o077):
        os.chmod(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty with mode 0600 if it is missing; tighten it if it is looser."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        if _loose(path, 0o077):
            os.chmod(path, PRIVATE_FILE)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Write `path` atomically (a 0600 temporary file, then a rename)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else data
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(raw)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _loose(path: Path, bits: int) -> bool:
    try:
        return bool(stat.S_IMODE(path.stat().st_mode) & bits)
    except OSError:
        return False
