"""Git refs read from the `.git` folder, and commits' trees remembered by commit id.

Asking git costs a process, which on a busy runner costs more than planning an unchanged
repo. A branch, a remote branch or HEAD is a line in a file (`.git/HEAD`,
`.git/refs/...`, `.git/packed-refs`; a worktree's `.git` file points to its folder and
its `commondir`), and a commit's tree never changes, so the files a plan reads at a commit
are kept by commit id under `.cloud/cache/`. Anything less plain (a tag, which may need
peeling; `HEAD~1`; an abbreviated id) is left to git: `resolve_ref` answers None.
Standard library only.
"""

from __future__ import annotations

import json
import os
import re

from controller.adapters.cache_files import CACHE_DIR, save_json

_SHA = re.compile(r"^[0-9a-f]{40}$")
COMMIT_TREES = 8  # commits whose trees are kept (a few bases, a few heads)


def _git_dirs(root: str) -> tuple[str, str] | None:
    """(the worktree's git folder, the common git folder), or None if not a checkout."""
    dot_git = os.path.join(root, ".git")
    if os.path.isdir(dot_git):
        git_dir = dot_git
    elif os.path.isfile(dot_git):
        with open(dot_git, encoding="utf-8") as stream:
            line = stream.read().strip()
        if not line.startswith("gitdir:"):
            return None
        git_dir = os.path.normpath(os.path.join(root, line[len("gitdir:") :].strip()))
    else:
        return None
    common = git_dir
    pointer = os.path.join(git_dir, "commondir")
    if os.path.isfile(pointer):
        with open(pointer, encoding="utf-8") as stream:
            common = os.path.normpath(os.path.join(git_dir, stream.read().strip()))
    return git_dir, common


def _packed(common: str) -> dict[str, str]:
    refs: dict[str, str] = {}
    try:
        with open(os.path.join(common, "packed-refs"), encoding="utf-8") as stream:
            for line in stream:
                if line[:1] in ("#", "^"):
                    continue
                sha, _, name = line.strip().partition(" ")
                refs[name] = sha
    except FileNotFoundError:
        pass
    return refs


def _read(git_dir: str, common: str, name: str, packed: dict[str, str]) -> str | None:
    """The content of ref `name` (a sha, or `ref: <name>`), loose or packed."""
    folder = git_dir if name == "HEAD" else common
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as stream:
            return stream.read().strip()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return packed.get(name)


def resolve_ref(root: str, ref: str) -> str | None:
    """The commit a branch, remote branch or HEAD names, read from files (None: ask git)."""
    dirs = _git_dirs(root)
    if dirs is None or not ref or ref.startswith("-") or any(c in ref for c in "~^:@{ *?["):
        return None
    if _SHA.match(ref):
        return None  # a bare id may name a tag object: git says what it is
    git_dir, common = dirs
    packed = _packed(common)
    candidates = [ref, f"refs/{ref}", f"refs/tags/{ref}", f"refs/heads/{ref}"]
    candidates += [f"refs/remotes/{ref}", f"refs/remotes/{ref}/HEAD"]
    for name in candidates:
        if name != "HEAD" and not name.startswith("refs/"):
            continue  # git's first rule: only HEAD-like names at the top of .git
        value = _read(git_dir, common, name, packed)
        if value is None:
            continue
        if name.startswith("refs/tags/"):
            return None  # possibly an annotated tag: peeling needs git
        for _ in range(5):  # symbolic refs: HEAD -> refs/heads/main
            if not value.startswith("ref:"):
                break
            target = value[len("ref:") :].strip()
            if not target.startswith("refs/heads/") and not target.startswith("refs/remotes/"):
                return None
            value = _read(git_dir, common, target, packed)
            if value is None:
                return None
        return value if value and _SHA.match(value) else None
    return None


class CommitTrees:
    """`{commit: {path: blob id}}` of the files a plan reads, for a few commits."""

    def __init__(self, root: str) -> None:
        self.path = os.path.join(root, CACHE_DIR, "commit-trees-v1.json")
        self._trees: dict[str, dict[str, str]] | None = None

    def _load(self) -> dict[str, dict[str, str]]:
        if self._trees is None:
            try:
                with open(self.path, encoding="utf-8") as stream:
                    loaded = json.load(stream)
                self._trees = loaded if isinstance(loaded, dict) else {}
            except (OSError, ValueError):
                self._trees = {}
        return self._trees

    def get(self, commit: str) -> dict[str, str] | None:
        tree = self._load().get(commit)
        return dict(tree) if isinstance(tree, dict) else None

    def put(self, commit: str, ids: dict[str, str]) -> None:
        trees = self._load()
        trees.pop(commit, None)
        trees[commit] = ids
        self._trees = dict(list(trees.items())[-COMMIT_TREES:])
        save_json(self.path, self._trees)
