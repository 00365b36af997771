"""In-memory fakes of the service's seams: the repo source and the engine inventory."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from controller.adapters.catalog_sources import CatalogFiles, SourceError, WriteOutcome
from controller.adapters.local_git import Author


class MemorySource:
    """A catalog source over a dict of files; each write is a 'commit' it records."""

    kind = "memory"

    def __init__(self, files: Mapping[str, str], *, fail_writes: bool = False) -> None:
        self.files = dict(files)
        self.version = 0
        self.commits: list[dict[str, Any]] = []
        self.fail_writes = fail_writes
        self.reads = 0

    def revision(self) -> str:
        return f"r{self.version}"

    def read(self) -> CatalogFiles:
        self.reads += 1
        times = {
            path: ("2025-10-09T12:00:00.000Z", f"2025-10-09T12:00:0{self.version % 10}.000Z")
            for path in self.files
        }
        return CatalogFiles(self.revision(), dict(self.files), f"sha{self.version}", times)

    def write(
        self, changes: Mapping[str, str | None], *, message: str, author: Author
    ) -> WriteOutcome:
        if self.fail_writes:
            raise SourceError("simulated failure: /secret/internal/path is unwritable")
        for path, text in changes.items():
            if text is None:
                self.files.pop(path, None)
            else:
                self.files[path] = text
        self.version += 1
        sha = f"{self.version:040x}"
        self.commits.append(
            {"sha": sha, "message": message, "author": author, "paths": sorted(changes)}
        )
        return WriteOutcome("commit", commit=sha, branch="main")

    def health(self) -> dict[str, Any]:
        return {"status": "healthy", "kind": "memory"}


class FakeInventory:
    """Which stacks have state, per (deployment, environment); raises when told to."""

    def __init__(self, active: Mapping[tuple[str, str], list[str]] | None = None) -> None:
        self.active = dict(active or {})
        self.unavailable = False
        self.asked: list[str] = []

    def active_stacks(
        self, deployment_id: str, environments: Iterable[str]
    ) -> dict[str, list[str]]:
        from controller.adapters.inventory import InventoryUnavailableError

        self.asked.append(deployment_id)
        if self.unavailable:
            raise InventoryUnavailableError("backend down")
        found = {env: self.active.get((deployment_id, env), []) for env in environments}
        return {env: stacks for env, stacks in found.items() if stacks}

    def health(self) -> dict[str, Any]:
        return {"status": "healthy", "name": "fake"}
