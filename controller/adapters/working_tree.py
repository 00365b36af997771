"""The files a plan reads, as bytes from a working tree or as blob ids from a commit.

Every file under `stacks/` (programs, definitions, templates, pins) and every
`deployments/*/manifest.yaml`: nothing else decides a plan. Standard library only, so the
quick answer to a plan where nothing changed (`cli.quick_plan`) can use it before the rest
of the controller loads.
"""

from __future__ import annotations

import contextlib
import os

from controller.core.paths import DEPLOYMENTS_DIR, MANIFEST_FILE, STACKS_DIR, is_manifest


def planned(path: str) -> bool:
    """Whether a repo path is one a plan reads."""
    return path.startswith(f"{STACKS_DIR}/") or is_manifest(path)


def read_working_tree(root: str, *, manifests: bool = True) -> dict[str, bytes]:
    """`{path: bytes}` of the files a plan reads (`__pycache__` and `.pyc` left out)."""
    found: list[str] = []
    for folder, dirs, files in os.walk(os.path.join(root, STACKS_DIR)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        relative = os.path.relpath(folder, root).replace(os.sep, "/")
        found += (f"{relative}/{f}" for f in files if not f.endswith(".pyc"))
    if manifests:
        with (
            contextlib.suppress(FileNotFoundError),
            os.scandir(os.path.join(root, DEPLOYMENTS_DIR)) as entries,
        ):
            found += (
                f"{DEPLOYMENTS_DIR}/{e.name}/{MANIFEST_FILE}"
                for e in entries
                if e.is_dir() and os.path.isfile(os.path.join(e.path, MANIFEST_FILE))
            )
    contents: dict[str, bytes] = {}
    for path in sorted(found):
        with open(os.path.join(root, path), "rb") as stream:
            contents[path] = stream.read()
    return contents


def parse_ls_tree(output: bytes) -> dict[str, str]:
    """`{path: blob id}` from `git ls-tree -r -z` (blobs only)."""
    ids = {}
    for entry in output.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        _mode, kind, blob = meta.split()
        if kind == b"blob":
            ids[path.decode()] = blob.decode()
    return ids
