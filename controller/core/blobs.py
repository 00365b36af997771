"""Content keys: git blob ids, and digests of the catalog's files by their blob ids.

What the plan index is keyed by, in a module with no dependency beyond the standard
library: the quick answer to a plan where nothing changed (see `cli.quick_plan`) needs
these and must not load the rest. A purely computational module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

INDEX_VERSION = 2  # of the plan index: bump when what it holds changes
NAMES = "names"  # the `depends` key of the catalog's listing (stack and template names)


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def catalog_paths(ids: Iterable[str]) -> list[str]:
    """The catalog's own files among repo paths: stack definitions and templates."""
    from_stacks = [p for p in ids if p.startswith("stacks/") and p.count("/") == 2]
    return sorted(p for p in from_stacks if p.endswith("/stack.yaml") or _is_template(p))


def _is_template(path: str) -> bool:
    return path.startswith("stacks/templates/") and path.endswith(".yaml")


def catalog_key(ids: Mapping[str, str]) -> str:
    """The digest of the catalog's content (its files' blob ids)."""
    text = "\n".join(f"{path}\t{ids[path]}" for path in catalog_paths(ids))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def names_digest(ids: Iterable[str]) -> str:
    """The digest of which stacks and templates exist (not of their content)."""
    text = "\n".join(catalog_paths(ids))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def tree_digest(ids: Mapping[str, str]) -> str:
    """The digest of a whole tree's content (every path and blob id)."""
    text = "\n".join(f"{path}\t{ids[path]}" for path in sorted(ids))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def depends_fit(depends: Mapping[str, str], ids: Mapping[str, str], names: str) -> bool:
    """Whether the catalog files an index entry was made from are as they were (`NAMES`:
    the listing of stacks and templates)."""
    return all(
        (names if path == NAMES else ids.get(path, "")) == blob for path, blob in depends.items()
    )


def unchanged_summary(environments: int, instances: int) -> str:
    """The plan text's line for the environments with nothing to do."""
    return f"{environments} environment(s) with nothing to run ({instances} instances unchanged)"
