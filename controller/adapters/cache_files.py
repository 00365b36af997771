"""The cache files under `.cloud/cache/`: where they are, whether they are on, how they
are written. Standard library only (the quick plan reads the plan index before the rest
of the controller loads).
"""

from __future__ import annotations

import json
import os

from controller.core.blobs import INDEX_VERSION

CACHE_DIR = ".cloud/cache"  # relative to the repo root


def cache_enabled() -> bool:
    """Caches are on unless `CLOUD_CACHE` is 0/off/false/no (benchmarks of a cold run)."""
    return os.environ.get("CLOUD_CACHE", "").lower() not in ("0", "off", "false", "no")


def code_version() -> str:
    """A digest of the core's source files (name, size, modification time): what the
    caches hold was computed by this code, and a cache made by other code (an upgrade, an
    edit of a validation rule) is ignored rather than trusted. Stats only, no reads."""
    import hashlib

    import controller.core

    folder = os.path.dirname(controller.core.__file__)
    with os.scandir(folder) as entries:
        stats = sorted(
            f"{e.name}:{e.stat().st_size}:{e.stat().st_mtime_ns}"
            for e in entries
            if e.name.endswith(".py")
        )
    return hashlib.sha256("\n".join(stats).encode()).hexdigest()[:20]


def plan_index_file() -> str:
    """Where the plan index lives, relative to the repo root."""
    return f"{CACHE_DIR}/plan-index-v{INDEX_VERSION}.json"


def save_json(path: str | os.PathLike[str], data: object) -> bool:
    """Write a cache file whole or not at all (temporary file, then rename); False when
    it cannot be written, which only makes the next run slower."""
    import tempfile

    folder, name = os.path.split(os.fspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump(data, stream, separators=(",", ":"))
        os.replace(temporary, path)
    except OSError:
        return False
    return True
