"""The repo an operation runs: as it is now, or as it was at a commit (a rollback).

Used by the operation endpoints when they start an operation, and by `Operations` when a
failure with `rollbackOnFailure` starts a rollback on its own (`services.py` hands it
`sources`). At a commit, a local repo's programs are exported to a folder of their own
(removed once the operation is final); GitHub's are read by the runners from the commit.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from controller.adapters.local_repo import LocalRepo
from controller.core.catalog import load_snapshot
from controller.edits.catalog_state import CatalogState
from controller.operations.control import Source
from controller.service.http.errors import ApiError


def current_source(services: Any, state: CatalogState) -> Source:
    root = services.settings.resolved_root()
    repo_source = services.repo.source
    ids = getattr(repo_source, "stack_file_ids", None) or LocalRepo(root).stack_file_ids
    return Source(
        catalog=state.snapshot.catalog,
        deployments=state.snapshot.deployments,
        file_ids=ids,
        root=root,
        commit=state.files.commit,
    )


def source_at(services: Any, commit: str) -> tuple[Source, Any]:
    """The repo at `commit`: its catalog, and (local) its programs in a folder of their own."""
    repo_source = services.repo.source
    if not hasattr(repo_source, "snapshot_at"):
        raise ApiError(
            409,
            "RESOURCE_CONFLICT",
            "this repo source keeps no history: a rollback needs a git checkout or GitHub",
        )
    texts, ids = repo_source.snapshot_at(commit)
    snapshot = load_snapshot(texts)
    root = services.settings.resolved_root()
    cleanup = None
    if services.settings.dispatcher == "local":
        base = services.settings.resolved_data_dir() / "rollbacks"
        base.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix=f"{commit[:12]}-", dir=base))
        repo_source.export_at(commit, folder)
        root = folder

        def cleanup() -> None:
            shutil.rmtree(folder, ignore_errors=True)

    source = Source(
        catalog=snapshot.catalog,
        deployments=snapshot.deployments,
        file_ids=lambda: ids,
        root=root,
        commit=commit,
    )
    return source, cleanup


def sources(services: Any) -> Callable[[str | None], tuple[Source, Any]]:
    """`Operations.sources`: the repo now (None) or at a commit, with its cleanup."""

    def source(commit: str | None) -> tuple[Source, Any]:
        if commit:
            return source_at(services, commit)
        return current_source(services, services.repo.current()), None

    return source
