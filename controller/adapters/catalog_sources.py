"""Where the service reads and writes the catalog: the repo seam, and its local implementation.

A catalog source reads the files the catalog is made of (stacks, templates, manifests) at
its current revision, tells cheaply whether that revision changed, and turns a validated
set of file changes into a commit (or a branch and a pull request). Two implementations:
the local checkout here (embedded default) and GitHub's API (`github_repo`). The service
validates every write on the future snapshot before calling `write`; a source only
performs it, all or nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from controller.adapters.git_repo import GitError, GitRepo
from controller.adapters.local_git import Author, LocalGit
from controller.adapters.local_repo import LocalRepo, RepoPathError, write_atomic
from controller.core.catalog import (
    DEPLOYMENTS_DIR,
    MANIFEST_FILE,
    STACK_FILE,
    STACKS_DIR,
    TEMPLATES_DIR,
    is_catalog_path,
)
from controller.core.stack_files import StackFiles

WriteMode = Literal["commit", "pull-request", "files"]


class SourceError(RuntimeError):
    """The source could not be read or written (git failed, GitHub refused, I/O error)."""


class SourceConflictError(SourceError):
    """The repo moved under a write (a file changed since it was read)."""


@dataclass(frozen=True)
class CatalogFiles:
    revision: str
    files: dict[str, str]
    commit: str | None = None
    # {path: (created, updated)} as ISO timestamps, where the history is known
    times: dict[str, tuple[str, str]] = field(default_factory=dict)
    # {path: (created by, updated by)} as the commits' author e-mails, where known
    authors: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteOutcome:
    mode: WriteMode
    commit: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    pull_request_number: int | None = None


class CatalogSource(Protocol):
    kind: str

    def revision(self) -> str:
        """A token that changes whenever the catalog files may have changed."""
        ...

    def read(self) -> CatalogFiles: ...

    def write(
        self, changes: Mapping[str, str | None], *, message: str, author: Author
    ) -> WriteOutcome:
        """Write (text) or delete (None) files, then commit or open a pull request."""
        ...

    def health(self) -> dict[str, Any]: ...


_PATTERNS = (
    f"{STACKS_DIR}/*/{STACK_FILE}",
    f"{TEMPLATES_DIR}/*.yaml",
    f"{DEPLOYMENTS_DIR}/*/{MANIFEST_FILE}",
)


class LocalCatalogSource:
    """The catalog in a directory on disk, committed with git when it is a checkout."""

    kind = "local"

    def __init__(self, root: Path, *, commit: bool = True) -> None:
        self.repo = LocalRepo(root)
        self.git = LocalGit(root)
        self.commit_enabled = commit and self.git.is_checkout()

    def _stats(self) -> list[tuple[str, int, int]]:
        root = self.repo.root
        stats = []
        for pattern in _PATTERNS:
            for path in root.glob(pattern):
                try:
                    info = path.stat()
                except OSError:
                    continue
                stats.append((path.relative_to(root).as_posix(), info.st_mtime_ns, info.st_size))
        return sorted(stats)

    def stack_file_ids(self) -> StackFiles:
        """Every file under stacks/ as it is on disk: blob ids and facts (fingerprints)."""
        return self.repo.stack_file_ids()

    def snapshot_at(self, commit: str) -> tuple[dict[str, str], StackFiles]:
        """The catalog's texts and the stack files at `commit` (a rollback)."""
        try:
            return GitRepo(self.repo.root).snapshot_files(commit)
        except GitError as error:
            raise SourceError(f"cannot read commit {commit[:12]}: {error}") from None

    def export_at(self, commit: str, destination: Path) -> None:
        """Write the stacks and deployments of `commit` under `destination` (its programs)."""
        try:
            GitRepo(self.repo.root).export(commit, destination, ("stacks", "deployments"))
        except GitError as error:
            raise SourceError(f"cannot export commit {commit[:12]}: {error}") from None

    def revision(self) -> str:
        digest = hashlib.sha1(repr(self._stats()).encode(), usedforsecurity=False)
        return digest.hexdigest()

    def read(self) -> CatalogFiles:
        revision = self.revision()
        try:
            files = self.repo.catalog_files()
        except (RepoPathError, OSError) as error:
            raise SourceError(f"cannot read the repo: {error}") from None
        commit = self.git.head() if self.commit_enabled else None
        times, authors = (
            self.git.file_history([DEPLOYMENTS_DIR, STACKS_DIR]) if commit else ({}, {})
        )
        for path in files:
            if path not in times:
                stamp = _mtime(self.repo.root / path)
                times[path] = (stamp, stamp)
        return CatalogFiles(revision, files, commit, times, authors)

    def write(
        self, changes: Mapping[str, str | None], *, message: str, author: Author
    ) -> WriteOutcome:
        for path in changes:
            if not is_catalog_path(path):
                raise SourceError(f"{path} is not a catalog file")
        previous = {path: self._current_text(path) for path in changes}
        try:
            self._apply(changes)
            if not self.commit_enabled:
                return WriteOutcome("files")
            sha = self.git.commit(changes, message=message, author=author)
        except (GitError, OSError, RepoPathError) as error:
            self._apply(previous)  # leave the checkout as it was
            raise SourceError(f"the write was not committed: {error}") from None
        return WriteOutcome("commit", commit=sha)

    def _current_text(self, path: str) -> str | None:
        target = self.repo.resolve(path)
        return target.read_text(encoding="utf-8") if target.is_file() else None

    def _apply(self, changes: Mapping[str, str | None]) -> None:
        for path, text in changes.items():
            target = self.repo.resolve(path)
            if text is not None:
                write_atomic(target, text)
            elif target.is_file():
                target.unlink()
                _remove_if_empty(target.parent, stop=self.repo.root.resolve())

    def health(self) -> dict[str, Any]:
        return {
            "status": "healthy" if (self.repo.root / STACKS_DIR).is_dir() else "unhealthy",
            "kind": "local",
            "commits": self.commit_enabled,
        }


def _remove_if_empty(folder: Path, *, stop: Path) -> None:
    """Remove a deployment's (or stack's) folder left empty by a delete, never the repo."""
    if folder == stop or stop not in folder.parents:
        return
    if folder.parent.name not in (DEPLOYMENTS_DIR, STACKS_DIR):
        return
    with contextlib.suppress(OSError):  # not empty: other files (a README, a program) stay
        os.rmdir(folder)


def _mtime(path: Path) -> str:
    try:
        moment = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
