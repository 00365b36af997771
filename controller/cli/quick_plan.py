"""The answer to `cloud plan --base REF` when nothing changed, before the CLI loads.

When every file a plan reads (stacks/ and the manifests) has the same blob id in the
working tree as at REF, every instance is unchanged and there is nothing to run or to
remove: the plan is a count of environments and instances. The plan index knows those
counts, and it knows whether this very tree was found valid by a full plan (it records
the digests of trees with no error). So this module hashes the tree (what any plan must
do), asks git for REF's tree, reads the index, and prints what the full plan would print,
with the standard library only: no models, no graph library, no engines.

Anything else (a difference, another option, a cache that does not cover the tree, an
unknown ref) answers None, and the full plan runs and says what it says. The output is
the full plan's, byte for byte (a test holds them side by side).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence

from controller.adapters.cache_files import cache_enabled, code_version, plan_index_file
from controller.adapters.git_refs import CommitTrees, resolve_ref
from controller.adapters.working_tree import parse_ls_tree, planned, read_working_tree
from controller.core.blobs import (
    blob_id,
    depends_fit,
    names_digest,
    tree_digest,
    unchanged_summary,
)
from controller.core.paths import STACKS_DIR, is_manifest


class Quick:
    """The quick plan's outcome: printed (`code`), or not, with what it read of the tree
    (`tree`: {path: bytes}, for the full plan of the same command to use)."""

    __slots__ = ("code", "root", "tree")

    def __init__(self, code: int | None, root: str | None, tree: dict[str, bytes] | None):
        self.code, self.root, self.tree = code, root, tree


def quick_plan(argv: Sequence[str]) -> Quick:
    """Print the plan (`code` 0), or leave it to the full plan (`code` None)."""
    options = _options(argv)
    if options is None or options[0] is None or not cache_enabled():
        return Quick(None, None, None)
    root, base, environment = options
    tree = read_working_tree(root)
    text = answer(root, base, environment, tree)
    if text is None:
        return Quick(None, root, tree)
    sys.stdout.write(text)
    return Quick(0, root, None)


def _options(argv: Sequence[str]) -> tuple[str | None, str, str | None] | None:
    """(root, base, environment) of `[--root R] plan --base REF [-e ENV]`, else None."""
    words = list(argv)
    root = os.environ.get("CLOUD_REPO_ROOT") or None
    if words[:1] == ["--root"] and len(words) > 1:
        root, words = words[1], words[2:]
    if words[:1] != ["plan"]:
        return None
    base = environment = None
    rest = words[1:]
    while rest:
        option, *rest = rest
        if option in ("--base", "-e", "--environment") and rest:
            value, *rest = rest
            if option == "--base":
                base = value
            else:
                environment = value
        elif option in ("--format=text",):
            continue
        elif option == "--format" and rest[:1] == ["text"]:
            rest = rest[1:]
        else:
            return None
    if base is None or base.startswith("-"):
        return None
    return (root if root is not None else _find_root(os.getcwd())), base, environment


def _find_root(start: str) -> str | None:
    """The nearest folder at or above `start` with a `stacks/` folder (as the CLI finds)."""
    folder = os.path.abspath(start)
    while True:
        if os.path.isdir(os.path.join(folder, STACKS_DIR)):
            return folder
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def answer(root: str, base: str, environment: str | None, tree: dict[str, bytes]) -> str | None:
    """The text of the plan, if nothing changed since `base` and the index covers it."""
    head = {path: blob_id(data) for path, data in tree.items()}
    commit = resolve_ref(root, base)
    then = CommitTrees(root).get(commit) if commit else None
    if then is None:  # not a plain branch, or a commit not seen yet: ask git
        listed = subprocess.run(
            ["git", "-C", root, "ls-tree", "-r", "-z", "--full-tree", base, "--", "stacks",
             "deployments"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        if listed.returncode != 0:
            return None
        then = {p: b for p, b in parse_ls_tree(listed.stdout).items() if planned(p)}
        if commit:
            CommitTrees(root).put(commit, then)
    if then != head:
        return None
    try:
        with open(os.path.join(root, plan_index_file()), encoding="utf-8") as stream:
            index = json.load(stream)
        return _count(index, head, environment)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def _count(index: dict, head: dict[str, str], environment: str | None) -> str | None:
    if index["code"] != code_version() or tree_digest(head) not in index["valid"]:
        return None  # made by other code, or no full plan found this tree valid
    names = names_digest(head)
    shared = index["shared"]
    environments = instances = 0
    for file in sorted(p for p in head if is_manifest(p)):
        entry = next(
            (
                e
                for e in index["deployments"].get(file, [])
                if e["blob"] == head[file] and depends_fit(shared[e["depends"]], head, names)
            ),
            None,
        )
        if entry is None or entry["id"] is None:  # not indexed, or does not load
            return None
        if environment is not None and environment not in entry["environments"]:
            return None  # the full plan says which deployment has no such environment
        for name, enabled in entry["environments"].items():
            if enabled and environment in (None, name):
                environments += 1
                instances += len(shared[entry["layouts"][name]][2])
    if not environments:
        return "nothing to plan\n"
    return unchanged_summary(environments, instances) + "\n"
