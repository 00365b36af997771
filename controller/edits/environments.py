"""Enabling and disabling a deployment's environment: one flag in its manifest.

The manifest is rewritten through the same validated write path as every other edit,
and only if the flag changes (enabling an enabled environment writes nothing). The
manifest must still be the one the change was computed from when it is written, so an
edit made meanwhile is never overwritten.
"""

from __future__ import annotations

from typing import Any

from controller.adapters.local_git import Author
from controller.core.catalog import Deployment
from controller.core.models import Manifest
from controller.core.scaffold import render_manifest
from controller.core.statuses import EnvironmentSummary
from controller.edits.catalog import Edit, parse_document
from controller.edits.catalog_state import CatalogState, RepoState
from controller.edits.changes import change_data
from controller.edits.errors import EditError, not_found


def manifest_unchanged(deployment: Deployment) -> Any:
    """A write check: the deployment's manifest is still the one read before."""

    def check(state: CatalogState) -> None:
        current = state.snapshot.deployments.get(deployment.deployment_id)
        if current is None or current.manifest != deployment.manifest:
            raise EditError(
                "conflict",
                f"deployment {deployment.deployment_id} changed meanwhile; read it again and retry",
            )

    return check


def set_environment_enabled(
    repo: RepoState, deployment: Deployment, environment: str, *, enabled: bool, author: Author
) -> Edit:
    manifest = deployment.manifest
    if environment not in manifest.environments:
        raise not_found("environment", environment)
    if manifest.environments[environment].enabled == enabled:
        return Edit(environment, deployment.file, None, manifest)
    data = manifest.to_file_dict()
    data["environments"][environment]["enabled"] = enabled
    updated: Manifest = parse_document(data, Manifest, file=deployment.file)
    verb = "Enable" if enabled else "Disable"
    result = repo.write(
        {deployment.file: render_manifest(updated)},
        message=f"{verb} environment {environment} of deployment {deployment.deployment_id}",
        author=author,
        deployments=[deployment.deployment_id],
        check=manifest_unchanged(deployment),
    )
    return Edit(
        environment,
        deployment.file,
        result,
        updated,
        changes=[
            f"environments.{environment}.enabled: {str(not enabled).lower()} → "
            f"{str(enabled).lower()}"
        ],
    )


def environment_toggled(
    edit: Edit,
    deployment_id: str,
    *,
    enabled: bool,
    summary: EnvironmentSummary,
    at: str,
    by: str,
) -> dict[str, Any]:
    """The reply data of enable (`enabledAt`, `enabledBy`) or disable (`disabledAt`, …):
    `status` and `stacksDeployed` from the stacks' recorded states (disabling destroys
    nothing, so what is deployed stays counted)."""
    verb = "enabled" if enabled else "disabled"
    return {
        "deploymentId": deployment_id,
        "environment": edit.name,
        "enabled": enabled,
        f"{verb}At": at,
        f"{verb}By": by,
        "status": summary.status,
        "stacksDeployed": summary.stacks_deployed,
        "change": change_data(edit.outcome),
    }
