"""The repo as Git sees it at a commit: for plans against a base (a pull request's base).

Fingerprints need only each file's blob id, which `git ls-tree` lists without reading a
byte of content; the YAML files the catalog parses are read in one `git cat-file --batch`.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from controller.core.catalog import is_catalog_path


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
        """The commit id a ref names (`GitError` if it names none)."""
        if ref.startswith("-"):
            raise GitError(f"not a ref: {ref!r}")
        return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()

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
        output = self._git(
            "ls-tree", "-r", "-z", "--full-tree", commit, "--", "stacks", "deployments"
        )
        ids = {}
        for entry in output.split(b"\0"):
            if not entry:
                continue
            meta, _, path = entry.partition(b"\t")
            _mode, kind, blob = meta.split()
            if kind == b"blob":
                ids[path.decode()] = blob.decode()
        return ids

    def read_blobs(self, blobs: dict[str, str]) -> dict[str, str]:
        """`{path: text}` for `{path: blob id}`, in one `git cat-file --batch`."""
        if not blobs:
            return {}
        paths = list(blobs)
        output = self._git(
            "cat-file", "--batch", stdin="".join(f"{blobs[p]}\n" for p in paths).encode()
        )
        texts: dict[str, str] = {}
        position = 0
        for path in paths:
            header_end = output.index(b"\n", position)
            header = output[position:header_end].split()
            size = int(header[2])
            start = header_end + 1
            texts[path] = output[start : start + size].decode("utf-8", errors="replace")
            position = start + size + 1
        return texts

    def snapshot_files(self, commit: str) -> tuple[dict[str, str], dict[str, str]]:
        """The catalog's texts and the stack files' blob ids at `commit`."""
        tree = self.tree(commit)
        texts = self.read_blobs({p: b for p, b in tree.items() if is_catalog_path(p)})
        file_ids = {p: b for p, b in tree.items() if p.startswith("stacks/")}
        return texts, file_ids

    def export(self, commit: str, destination: Path, folders: tuple[str, ...]) -> None:
        """The files of `folders` at `commit`, written under `destination` (`git archive`).

        Only regular files and folders are written, and only inside `destination`.
        """
        data = self._git("archive", "--format=tar", commit, "--", *folders)
        root = destination.resolve()
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
