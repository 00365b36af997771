"""Fingerprints: a stable hash of everything Git can see that decides what `up` would do.

For one instance (deployment, stack, environment) that is: the files of the stack's folder
(program and definition), the shared toolchain lock (`stacks/requirements.lock`), the
resolved configuration for that environment (placeholders still symbolic, so an upstream
redeploy alone does not change it), and the deployment context the program reads
(`cloud:*`: ids, region, account, tags).

The fingerprint is kept with its components, each a short digest, so two fingerprints can
be compared part by part and the difference said in words ("config key vpcCidr changed").
Files are identified by their git blob id, so a base commit's fingerprints need only
`git ls-tree`, never the files' contents. No component holds a config value in clear.
A purely computational module.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from controller.core.catalog import Deployment
from controller.core.environments import EnvironmentView, Instance

TOOLCHAIN_FILES = ("stacks/requirements.lock",)


def blob_id(data: bytes) -> str:
    """The git blob id of `data` (what `git hash-object` prints)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def digest(value: Any) -> str:
    """A short, stable digest of a JSON-like value."""
    if value is None or isinstance(value, str | int | float | bool):
        return _scalar_digest(value)  # the same few values recur across thousands of stacks
    return _json_digest(value)


@lru_cache(maxsize=1 << 16, typed=True)
def _scalar_digest(value: Any) -> str:
    return _json_digest(value)


def _json_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


@dataclass(frozen=True)
class Fingerprint:
    """`value` digests the digests of the parts (`files`, `config`, `context`), so a part
    can be swapped (another commit's files) without hashing the others again."""

    value: str
    components: Mapping[str, Mapping[str, str]]
    parts: Mapping[str, str]


def instance_context(deployment: Deployment, environment: str) -> dict[str, Any]:
    """The `cloud:*` config every program receives (see docs/catalog-format.md)."""
    manifest = deployment.manifest
    return {
        "deploymentId": manifest.deployment_id,
        "environment": environment,
        "organization": manifest.organization,
        "project": manifest.project,
        "domain": manifest.domain or "",
        "region": manifest.region_for(environment),
        "account": manifest.account_for(environment) or "",
        "tags": dict(manifest.tags),
    }


def stack_files(stack: str, file_ids: Mapping[str, str]) -> dict[str, str]:
    """The blob ids of a stack's folder and of the shared toolchain files."""
    return _index_files(file_ids).get(stack) or _toolchain(file_ids)


def fingerprint_instance(
    instance: Instance, context: Mapping[str, Any], file_ids: Mapping[str, str]
) -> Fingerprint:
    files = stack_files(instance.stack, file_ids)
    return _fingerprint(instance, _part(_context_digests(context)), _part(files))


def fingerprint_view(
    view: EnvironmentView, files: StackFiles | Mapping[str, str]
) -> dict[str, Fingerprint]:
    """The fingerprint of every instance of a deployment environment.

    Pass a `StackFiles` when fingerprinting many environments at one commit.
    """
    files = files if isinstance(files, StackFiles) else StackFiles(files)
    context = _part(_context_digests(instance_context(view.deployment, view.environment)))
    return {
        name: _fingerprint(instance, context, files.of(name))
        for name, instance in view.instances.items()
    }


def rebase_files(
    fingerprints: Mapping[str, Fingerprint], files: StackFiles | Mapping[str, str]
) -> dict[str, Fingerprint]:
    """The same instances with other files (a commit where only stack files differ)."""
    files = files if isinstance(files, StackFiles) else StackFiles(files)
    rebased = {}
    for name, fingerprint in fingerprints.items():
        part = files.of(name)
        if part.digest == fingerprint.parts["files"]:
            rebased[name] = fingerprint  # same files: same fingerprint
            continue
        parts = {**fingerprint.parts, "files": part.digest}
        components = {**fingerprint.components, "files": part.values}
        rebased[name] = Fingerprint(_combine(parts), components, parts)
    return rebased


@dataclass(frozen=True)
class _Part:
    values: Mapping[str, str]
    digest: str


def _part(values: Mapping[str, str]) -> _Part:
    """A component with its own digest (over its sorted `key digest` lines)."""
    text = "\n".join(f"{key}\t{value}" for key, value in sorted(values.items()))
    return _Part(values, hashlib.sha256(text.encode()).hexdigest()[:20])


def _combine(parts: Mapping[str, str]) -> str:
    text = "\n".join(f"{name}\t{parts[name]}" for name in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _fingerprint(instance: Instance, context: _Part, files: _Part) -> Fingerprint:
    config = _part({key: digest(item.value) for key, item in instance.config.items()})
    parts = {"files": files.digest, "config": config.digest, "context": context.digest}
    components = {"files": files.values, "config": config.values, "context": context.values}
    return Fingerprint(_combine(parts), components, parts)


class StackFiles:
    """The files part of every stack at one commit (blob ids), each digested once."""

    def __init__(self, file_ids: Mapping[str, str]) -> None:
        self.index = _index_files(file_ids)
        self.toolchain = _toolchain(file_ids)
        self.parts: dict[str, _Part] = {}

    def of(self, stack: str) -> _Part:
        if stack not in self.parts:
            self.parts[stack] = _part(self.index.get(stack) or self.toolchain)
        return self.parts[stack]


def _index_files(file_ids: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`{stack: {path: blob id}}` with the toolchain files in every stack's entry."""
    toolchain = _toolchain(file_ids)
    by_stack: dict[str, dict[str, str]] = {}
    for path, blob in file_ids.items():
        parts = path.split("/", 2)
        if len(parts) == 3 and parts[0] == "stacks":
            by_stack.setdefault(parts[1], dict(toolchain))[path] = blob
    return {stack: dict(sorted(files.items())) for stack, files in by_stack.items()}


def _toolchain(file_ids: Mapping[str, str]) -> dict[str, str]:
    return {path: file_ids[path] for path in TOOLCHAIN_FILES if path in file_ids}


def _context_digests(context: Mapping[str, Any]) -> dict[str, str]:
    return {key: digest(value) for key, value in sorted(context.items())}


def explain_difference(
    old: Mapping[str, Mapping[str, str]], new: Mapping[str, Mapping[str, str]]
) -> list[str]:
    """Why two fingerprints differ, as short sentences, most specific first."""
    reasons: list[str] = []
    old_files, new_files = old.get("files", {}), new.get("files", {})
    for path in sorted(set(old_files) | set(new_files)):
        if old_files.get(path) == new_files.get(path):
            continue
        state = (
            "added" if path not in old_files else "removed" if path not in new_files else "changed"
        )
        what = (
            "toolchain pins"
            if path in TOOLCHAIN_FILES
            else "stack definition"
            if path.endswith("/stack.yaml")
            else "program file"
        )
        reasons.append(f"{what} {path} {state}")
    for part, label in (("config", "config key"), ("context", "deployment setting")):
        before, after = old.get(part, {}), new.get(part, {})
        for key in sorted(set(before) | set(after)):
            if before.get(key) == after.get(key):
                continue
            state = "added" if key not in before else "removed" if key not in after else "changed"
            reasons.append(f"{label} {key} {state}")
    return reasons or ["fingerprint changed"]
