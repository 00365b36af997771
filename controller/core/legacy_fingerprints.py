"""Format 1 fingerprints, as records written before format 2 hold them.

Format 1 hashed the stack folder's files and `stacks/requirements.txt` by git blob id, the
resolved config (defaults included) and every deployment setting. An upgrade must not
redeploy everything, so an instance whose record is format 1 is compared by this exact
algorithm (it only ever selects more than format 2, never less), once: the next deploy of
that instance writes a format 2 record. Kept apart so nothing new depends on it; delete
it when no format 1 record is left. A purely computational module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from controller.core.environments import EnvironmentView, Instance
from controller.core.fingerprints import Fingerprint, digest, instance_context

LEGACY_FORMAT = 1
# the pins format 1 hashed: requirements.txt, then (issue 10) the hashed lock file
LEGACY_TOOLCHAIN_FILES = ("stacks/requirements.txt", "stacks/requirements.lock")


def _part(values: Mapping[str, str]) -> str:
    text = "\n".join(f"{key}\t{value}" for key, value in sorted(values.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _combine(parts: Mapping[str, str]) -> str:
    text = "\n".join(f"{name}\t{parts[name]}" for name in sorted(parts))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def legacy_stack_files(stack: str, file_ids: Mapping[str, str]) -> dict[str, str]:
    """The blob ids format 1 took for a stack: its folder's files plus the pins, or only
    the pins for a stack without files."""
    toolchain = {path: file_ids[path] for path in LEGACY_TOOLCHAIN_FILES if path in file_ids}
    prefix = f"stacks/{stack}/"
    own = {path: blob for path, blob in file_ids.items() if path.startswith(prefix)}
    return dict(sorted({**toolchain, **own}.items())) if own else toolchain


def legacy_fingerprint(
    instance: Instance, context: Mapping[str, Any], file_ids: Mapping[str, str]
) -> Fingerprint:
    files = legacy_stack_files(instance.stack, file_ids)
    config = {key: digest(item.value) for key, item in instance.config.items()}
    settings = {key: digest(value) for key, value in sorted(context.items())}
    parts = {"files": _part(files), "config": _part(config), "context": _part(settings)}
    components = {"files": files, "config": config, "context": settings}
    return Fingerprint(_combine(parts), components, parts, format=LEGACY_FORMAT)


def legacy_fingerprint_view(
    view: EnvironmentView, file_ids: Mapping[str, str], stacks: set[str] | None = None
) -> dict[str, Fingerprint]:
    """Format 1 fingerprints of a view's instances (of `stacks` only, when given)."""
    context = instance_context(view.deployment, view.environment)
    return {
        name: legacy_fingerprint(instance, context, file_ids)
        for name, instance in view.instances.items()
        if stacks is None or name in stacks
    }
