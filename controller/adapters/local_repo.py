"""The repo as a directory on disk: the embedded default for the CLI and the service.

It reads the files the catalog needs (and a stack program's files, for fingerprints) and
writes new files atomically: each file goes to a temporary name beside its target and is
renamed into place, and a new directory is built aside and renamed in whole, so a crash
or a bad input never leaves half a deployment behind. Paths that would leave the repo
(`..`, absolute paths, symlinks pointing out) are refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.adapters.stack_sources import FactsCache, build_stack_files
from controller.adapters.working_tree import read_working_tree
from controller.core.paths import (
    DEPLOYMENTS_DIR,
    MANIFEST_FILE,
    STACK_FILE,
    STACKS_DIR,
    TEMPLATES_DIR,
)
from controller.core.stack_files import StackFiles, blob_id

MAX_FILE_BYTES = 2_000_000


class RepoPathError(ValueError):
    """A path that is not inside the repo, or not a file we may read."""


def find_root(start: Path) -> Path:
    """The nearest directory at or above `start` with a `stacks/` folder (else `start`)."""
    start = start.resolve()
    for candidate in (start, *start.parents):
        if (candidate / STACKS_DIR).is_dir():
            return candidate
    return start


@dataclass(frozen=True)
class LocalRepo:
    root: Path

    def resolve(self, relative: str) -> Path:
        """The absolute path of a repo-relative path, refusing anything outside the repo."""
        if not relative or Path(relative).is_absolute() or "\\" in relative:
            raise RepoPathError(f"not a repo-relative path: {relative!r}")
        root = self.root.resolve()
        target = (root / relative).resolve()
        if target != root and root not in target.parents:
            raise RepoPathError(f"path leaves the repo: {relative!r}")
        return target

    def catalog_files(self) -> dict[str, str]:
        """`{repo-relative path: text}` of every stack, template and manifest file."""
        patterns = (
            f"{STACKS_DIR}/*/{STACK_FILE}",
            f"{TEMPLATES_DIR}/*.yaml",
            f"{DEPLOYMENTS_DIR}/*/{MANIFEST_FILE}",
        )
        found: dict[str, str] = {}
        for pattern in patterns:
            for path in sorted(self.root.glob(pattern)):
                relative = path.relative_to(self.root).as_posix()
                found[relative] = self.read_text(relative)
        return found

    def read_text(self, relative: str) -> str:
        path = self.resolve(relative)
        if not path.is_file():
            raise RepoPathError(f"no such file: {relative}")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise RepoPathError(f"{relative} is larger than {MAX_FILE_BYTES} bytes")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise RepoPathError(f"{relative} is not UTF-8 text: {error.reason}") from None

    def stack_file_ids(self) -> StackFiles:
        """Every file under `stacks/`: blob ids and what each means (fingerprints are made of
        it); facts are cached by blob id under `.cloud/cache/`."""
        tree = self.tree(manifests=False)
        return build_stack_files(tree.ids, tree.read, FactsCache.under(self.root))

    def tree(self, *, manifests: bool = True, contents: dict[str, bytes] | None = None) -> Tree:
        """The working tree as planning sees it: every file under `stacks/` and every
        manifest, by blob id (each file read and hashed once, its bytes kept; `contents`:
        what was just read of it by `read_working_tree`)."""
        if contents is None:
            contents = read_working_tree(str(self.root), manifests=manifests)
        ids = {path: blob_id(data) for path, data in contents.items()}
        return Tree(ids, lambda wanted: {p: contents[p] for p in wanted})

    def exists(self, relative: str) -> bool:
        return self.resolve(relative).exists()

    def write_files(self, files: Mapping[str, str]) -> None:
        """Write each file atomically (temporary file + rename)."""
        for relative, text in files.items():
            write_atomic(self.resolve(relative), text)

    def create_directory(self, relative: str, files: Mapping[str, str]) -> Path:
        """Create a new directory with `files` (names inside it), all or nothing."""
        target = self.resolve(relative)
        if target.exists():
            raise FileExistsError(f"{relative} already exists")
        target.parent.mkdir(parents=True, exist_ok=True)
        import shutil
        import tempfile

        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            for name, text in files.items():
                (staging / name).write_text(text, encoding="utf-8")
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return target


@dataclass(frozen=True)
class Tree:
    """The files of one commit or of a working tree: `{path: blob id}` and a reader of
    `{path: blob id}` -> `{path: bytes}` (so a commit is read only where needed)."""

    ids: dict[str, str]
    read: Callable[[Mapping[str, str]], Mapping[str, bytes]]


def write_atomic(path: Path, text: str) -> None:
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
