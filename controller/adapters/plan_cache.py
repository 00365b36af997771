"""The plan index on disk: `.cloud/cache/plan-index-v<N>.json`.

Entries are looked up by manifest path and kept only while they fit the repo (same blob,
same catalog files; see `core.plan_index`), so a stale cache can only cost time, never
change a plan. Layouts repeat across deployments of a template, so they are stored once
in a table (`Shared`), as are the catalog files they read. Missing, unreadable or
corrupt, the cache is rebuilt; a failure to write it never fails a command
(`CLOUD_CACHE=off` disables it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controller.adapters.cache_files import (
    cache_enabled,
    code_version,
    plan_index_file,
    save_json,
)
from controller.core.blobs import depends_fit
from controller.core.plan_index import (
    CatalogIndex,
    DeploymentIndex,
    Shared,
)

PER_FILE = 4  # entries kept per manifest path (base and head of a few branches)
CATALOGS = 8
VALID_TREES = 16


class PlanCache:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._raw: dict[str, Any] = {}
        self._shared = Shared()
        self._fits: dict[tuple[int, int, str], tuple[bool, object, object]] = {}
        self._catalogs: dict[str, CatalogIndex] = {}
        self._deployments: dict[str, list[DeploymentIndex]] = {}
        self._dirty = False
        self._load()

    @classmethod
    def under(cls, root: Path) -> PlanCache:
        return cls(root / plan_index_file() if cache_enabled() else None)

    def _load(self) -> None:
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if (
            isinstance(data, dict)
            and isinstance(data.get("shared"), list)
            and data.get("code") == code_version()
        ):
            self._raw = data
            self._shared = Shared(data["shared"])

    # --- catalogs -----------------------------------------------------------------------

    def catalog(self, key: str) -> CatalogIndex | None:
        if key not in self._catalogs:
            raw = self._raw.get("catalogs", {}).get(key)
            if raw is None:
                return None
            try:
                self._catalogs[key] = CatalogIndex.from_dict(raw)
            except (KeyError, TypeError, ValueError):
                return None
        return self._catalogs[key]

    def put_catalog(self, index: CatalogIndex) -> None:
        self._catalogs[index.key] = index
        self._dirty = True

    # --- deployments --------------------------------------------------------------------

    def deployments(self, file: str) -> list[DeploymentIndex]:
        if file not in self._deployments:
            found = []
            for raw in self._raw.get("deployments", {}).get(file, []):
                try:
                    found.append(self._decode(raw))
                except (KeyError, TypeError, ValueError, IndexError):
                    continue
            self._deployments[file] = found
        return self._deployments[file]

    def deployment(self, file: str, ids: dict[str, str], names: str) -> DeploymentIndex | None:
        """The entry of `file` that fits the repo described by `ids`, if any."""
        for entry in self.deployments(file):
            if ids.get(file) != entry.blob:
                continue
            key = (id(entry.depends), id(ids), names)  # shared by a template's deployments
            if key not in self._fits:
                self._fits[key] = (depends_fit(entry.depends, ids, names), entry.depends, ids)
            if self._fits[key][0]:
                return entry
        return None

    def put_deployment(self, index: DeploymentIndex) -> None:
        kept = [e for e in self.deployments(index.file) if not (e.same_as(index))]
        self._deployments[index.file] = [index, *kept][:PER_FILE]
        self._dirty = True

    def _decode(self, raw: dict[str, Any]) -> DeploymentIndex:
        return DeploymentIndex.from_dict(raw, self._shared)

    # --- trees known valid -----------------------------------------------------------------

    def mark_valid(self, digest: str) -> None:
        """Remember that the tree with this digest (`core.blobs.tree_digest`) has no error:
        the quick answer to a plan where nothing changed may trust it."""
        valid = self._raw.get("valid", [])
        if digest not in valid:
            self._raw["valid"] = [*valid, digest][-VALID_TREES:]
            self._dirty = True

    # --- saving -------------------------------------------------------------------------

    def save(self) -> None:
        if not self._dirty or self.path is None:
            return
        catalogs = dict(self._raw.get("catalogs", {}))
        for key, index in self._catalogs.items():
            catalogs[key] = index.to_dict()
        catalogs = dict(list(catalogs.items())[-CATALOGS:])
        shared = Shared()
        deployments: dict[str, list[Any]] = {}
        for file in sorted(set(self._raw.get("deployments", {})) | set(self._deployments)):
            deployments[file] = [e.to_dict(shared) for e in self.deployments(file)]
        data = {
            "code": code_version(),
            "catalogs": catalogs,
            "deployments": deployments,
            "shared": shared.items,
            "valid": self._raw.get("valid", []),
        }
        if save_json(self.path, data):
            self._dirty = False
            for stale in self.path.parent.glob("plan-index-v*.json"):
                if stale != self.path:
                    stale.unlink(missing_ok=True)  # an older format: never read again
