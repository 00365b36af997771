"""New deployments from templates: the manifest `cloud init` and `POST /deployments` write.

The caller brings the randomness (a number for the deployment id) and the file system;
this module builds the manifest and its text. A purely computational module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from controller.core import problems as codes
from controller.core.catalog import Catalog, manifest_file
from controller.core.documents import validate_data
from controller.core.models import MANIFEST_VERSION, Manifest
from controller.core.problems import Problem, ProblemError, did_you_mean

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
ID_SPACE = len(_ALPHABET) ** 6


def deployment_id_from(number: int) -> str:
    """`D` + six base-36 digits: the seeds' id format (`D1BRV40`)."""
    if not 0 <= number < ID_SPACE:
        raise ValueError(f"number must be in [0, {ID_SPACE})")
    digits = []
    for _ in range(6):
        number, remainder = divmod(number, len(_ALPHABET))
        digits.append(_ALPHABET[remainder])
    return "D" + "".join(reversed(digits))


def scaffold_manifest(
    catalog: Catalog,
    *,
    deployment_id: str,
    organization: str,
    project: str,
    template: str,
    region: str | None = None,
    domain: str | None = None,
    accounts: Mapping[str, str] | None = None,
    enabled_environments: list[str] | None = None,
    contact: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
    regions: Mapping[str, str] | None = None,
) -> Manifest:
    """A manifest for a new deployment of `template`, or `ProblemError` saying why not.
    `regions` overrides the template's region of some environments."""
    chosen = catalog.templates.get(template)
    if chosen is None:
        raise ProblemError(
            Problem(
                codes.UNKNOWN_TEMPLATE,
                f"template {template!r} does not exist{did_you_mean(template, catalog.templates)}; "
                f"available: {', '.join(sorted(catalog.templates)) or 'none'}",
                details={"field": "template"},
            )
        )
    accounts = dict(accounts or {})
    regions = dict(regions or {})
    unknown = sorted((set(accounts) | set(regions)) - set(chosen.environments))
    if enabled_environments is not None:
        unknown += sorted(set(enabled_environments) - set(chosen.environments) - set(unknown))
    if unknown:
        raise ProblemError(
            Problem(
                codes.INVALID_ENVIRONMENT,
                f"template {template!r} has no environment {', '.join(map(repr, unknown))}; it has "
                f"{', '.join(chosen.environments)}",
                details={"field": "environments"},
            )
        )
    environments: dict[str, Any] = {}
    for name, settings in chosen.environments.items():
        enabled = settings.enabled if enabled_environments is None else name in enabled_environments
        environments[name] = {"enabled": enabled, "region": regions.get(name, settings.region)}
    missing = [
        name for name, env in environments.items() if env["enabled"] and name not in accounts
    ]
    if missing:
        raise ProblemError(
            Problem(
                codes.REQUIRED_FIELD,
                f"enabled environment(s) {', '.join(missing)} need an AWS account id "
                f"(e.g. {missing[0]}=123456789012)",
                details={"field": "accounts"},
            )
        )
    first_region = next(iter(chosen.environments.values())).region
    data: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "deploymentId": deployment_id,
        "organization": organization,
        "project": project,
        **({"domain": domain} if domain else {}),
        "template": template,
        "region": region or first_region,
        "accounts": accounts,
        "environments": environments,
        "stacks": {name: {"enabled": True} for name in chosen.stacks},
        **({"contact": dict(contact)} if contact else {}),
        "tags": dict(tags or {}),
    }
    manifest, found = validate_data(data, Manifest, file="(new deployment)")
    if manifest is None:
        raise ProblemError(found)
    return manifest


def render_manifest(manifest: Manifest) -> str:
    """The manifest as the YAML a person would write: keys in a sensible order."""
    data = manifest.model_dump(by_alias=True, mode="json", exclude_none=True)
    for stack in data.get("stacks", {}).values():
        for key in ("dependencies", "config", "environments"):
            if not stack.get(key):
                stack.pop(key, None)
    for env in data.get("environments", {}).values():
        if env.get("account") is None:
            env.pop("account", None)
    header = (
        f"# Deployment {manifest.deployment_id}: {manifest.organization}/{manifest.project}\n"
        f"# Template {manifest.template}. Validate with `cloud validate`; see the layers with\n"
        f"# `cloud layers {manifest.deployment_id} --environment <env>`.\n"
    )
    return header + yaml.safe_dump(data, sort_keys=False, default_flow_style=False, width=100)


def manifest_path(manifest: Manifest) -> str:
    return manifest_file(manifest.directory_name)
