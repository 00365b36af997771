"""The repo as Git sees it at a commit: for plans against a base (a pull request's base).

Fingerprints need only each file's blob id, which `git ls-tree` lists without reading a
byte of content; the YAML files the catalog parses are read in one `git cat-file --batch`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from controller.adapters.cache_files import cache_enabled
from controller.adapters.git_refs import CommitTrees, resolve_ref
from controller.adapters.local_repo import Tree
from controller.adapters.stack_sources import FactsCache, build_stack_files
from controller.adapters.working_tree import parse_ls_tree, planned
from controller.core.paths import is_catalog_path
from controller.core.stack_files import StackFiles


class GitError(RuntimeError):
    """A git command failed (not a repository, unknown ref, …)."""


@dataclass(frozen=True)
class GitRepo:
    root: Path

    def _git(self, *args: str, stdin: bytes | None = None) -> bytes:
        try:
            completed = subprocess.run(
                ["git", "-C", str(self.root), *args],
                input=stdin,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError:
            raise GitError("git is not installed") from None
        if completed.returncode != 0:
            message = completed.stderr.decode(errors="replace").strip().splitlines()
            raise GitError(f"git {' '.join(args[:2])}: {message[-1] if message else 'failed'}")
        return completed.stdout

    def resolve(self, ref: str) -> str:
        """The commit id a ref names (`GitError` if it names none); a branch or HEAD is
        read from `.git` without starting git."""
        if ref.startswith("-"):
            raise GitError(f"not a ref: {ref!r}")
        return resolve_ref(str(self.root), ref) or (
            self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
        )

    def is_ancestor(self, commit: str, of: str) -> bool:
        """Whether `commit` is reachable from `of` (both resolved first)."""
        first, second = self.resolve(commit), self.resolve(of)
        completed = subprocess.run(
            ["git", "-C", str(self.root), "merge-base", "--is-ancestor", first, second],
            capture_output=True,
            check=False,
        )
        if completed.returncode not in (0, 1):
            raise GitError(f"git merge-base: {completed.stderr.decode(errors='replace').strip()}")
        return completed.returncode == 0

    def branch_head(self, branch: str) -> str:
        """The tip of `branch` as fetched from origin, else the local branch."""
        for ref in (f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"):
            try:
                return self.resolve(ref)
            except GitError:
                continue
        raise GitError(f"no branch {branch!r} (fetched from origin or local) in {self.root}")

    def head(self) -> str | None:
        try:
            return self.resolve("HEAD")
        except GitError:
            return None

    def tree(self, commit: str) -> dict[str, str]:
        """`{path: blob id}` of every file at `commit` under stacks/ and deployments/."""
        return parse_ls_tree(
            self._git("ls-tree", "-r", "-z", "--full-tree", commit, "--", "stacks", "deployments")
        )

    def read_blob_bytes(self, blobs: Mapping[str, str]) -> dict[str, bytes]:
        """`{path: bytes}` for `{path: blob id}`, in one `git cat-file --batch`."""
        if not blobs:
            return {}
        paths = list(blobs)
        output = self._git(
            "cat-file", "--batch", stdin="".join(f"{blobs[p]}\n" for p in paths).encode()
        )
        contents: dict[str, bytes] = {}
        position = 0
        for path in paths:
            header_end = output.index(b"\n", position)
            header = output[position:header_end].split()
            size = int(header[2])
            start = header_end + 1
            contents[path] = output[start : start + size]
            position = start + size + 1
        return contents

    def read_blobs(self, blobs: Mapping[str, str]) -> dict[str, str]:
        """`{path: text}` for `{path: blob id}`, in one `git cat-file --batch`."""
        return {
            path: data.decode("utf-8", errors="replace")
            for path, data in self.read_blob_bytes(blobs).items()
        }

    def commit_tree(self, commit: str) -> Tree:
        """The stack files and manifests of `commit`, by blob id; read on demand. A
        commit's tree never changes: it is kept under `.cloud/cache/` by commit id."""
        trees = CommitTrees(str(self.root)) if cache_enabled() else None
        ids = trees.get(commit) if trees is not None else None
        if ids is None:
            ids = {path: blob for path, blob in self.tree(commit).items() if planned(path)}
            if trees is not None:
                trees.put(commit, ids)
        return Tree(ids, self.read_blob_bytes)

    def snapshot_files(
        self, commit: str, *, known: StackFiles | None = None
    ) -> tuple[dict[str, str], StackFiles]:
        """The catalog's texts and the stack files (blob ids and facts) at `commit`; facts
        of blobs in `known` (the working tree's) are not read again."""
        tree = self.tree(commit)
        texts = self.read_blobs({p: b for p, b in tree.items() if is_catalog_path(p)})
        file_ids = {p: b for p, b in tree.items() if p.startswith("stacks/")}
        files = build_stack_files(
            file_ids,
            self.read_blob_bytes,
            FactsCache.under(self.root),
            known=known.facts if known is not None else None,
        )
        return texts, files

    def export(self, commit: str, destination: Path, folders: tuple[str, ...]) -> None:
        """The files of `folders` at `commit`, written under `destination` (`git archive`).

        Only regular files and folders are written, and only inside `destination`.
        """
        data = self._git("archive", "--format=tar", commit, "--", *folders)
        root = destination.resolve()
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(data)) as archive:
            for member in archive.getmembers():
                target = (root / member.name).resolve()
                if root not in target.parents:
                    raise GitError(f"git archive: unsafe path {member.name!r}")
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                elif member.isfile():
                    source = archive.extractfile(member)
                    if source is None:  # pragma: no cover - a regular file always has data
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(source.read())
                    if member.mode & 0o111:
                        target.chmod(0o755)
