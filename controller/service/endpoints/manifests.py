"""A deployment's environments and its manifest as a whole (seeds/001 "Environment
Endpoints", seeds/002 "Get/Update Deployment Manifest").

Enabling or disabling an environment flips one flag in the manifest
(`controller.edits.environments`, which `cloud enable-environment` runs too); replacing
the manifest replaces the file. Both are writes of the manifest through the same validated
path as every other write, and both keep the deployment's identity (id, organization,
project), which names its folder.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from controller.core.models import Manifest
from controller.edits.environments import environment_toggled, set_environment_enabled
from controller.service.endpoints.deployments import (
    audit_edit,
    find_deployment,
    parse_manifest,
    recorded,
    save_manifest,
    shows_secrets,
    unmasked,
)
from controller.service.endpoints.payloads import (
    EnvironmentDisableRequest,
    EnvironmentEnableRequest,
    ManifestQuery,
)
from controller.service.endpoints.replies import (
    EnvironmentDisabled,
    EnvironmentEnabled,
    EnvironmentList,
    ManifestUpdated,
    ManifestView,
)
from controller.service.endpoints.views import environments_of, manifest_view
from controller.service.http.access import DEPLOYMENT, ENVIRONMENT
from controller.service.http.routing import Call, Endpoint, Reply


async def list_environments(call: Call) -> Reply:
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    views = environments_of(
        deployment, state.snapshot.catalog, recorded(call, deployment.deployment_id)
    )
    return Reply(
        EnvironmentList(
            deployment_id=deployment.deployment_id, environments=views, total=len(views)
        )
    )


async def enable_environment(call: Call) -> Reply:
    return await _toggle(call, enabled=True)


async def disable_environment(call: Call) -> Reply:
    return await _toggle(call, enabled=False)


async def _toggle(call: Call, *, enabled: bool) -> Reply:
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    name = call.params["environment_name"]
    deployment_id = deployment.deployment_id
    edit = await run_in_threadpool(
        lambda: set_environment_enabled(
            call.services.repo, deployment, name, enabled=enabled, author=call.user.author
        )
    )
    audit_edit(call, edit.files, edit.outcome)
    call.audit(deploymentId=deployment_id, environment=name, enabled=enabled)
    summary = recorded(call, deployment_id).summary(deployment_id, name, enabled=enabled)
    data = environment_toggled(
        edit,
        deployment_id,
        enabled=enabled,
        summary=summary,
        at=call.services.now(),
        by=call.user.identity,
    )
    toggled = EnvironmentEnabled if enabled else EnvironmentDisabled
    return Reply(
        toggled.model_validate(data),
        status=202 if edit.proposed else 200,
        message=f"Environment {'enabled' if enabled else 'disabled'} successfully",
    )


async def get_manifest(call: Call) -> Reply:
    query: ManifestQuery = call.query
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    show = shows_secrets(call, query.show_secrets)
    return Reply(
        ManifestView(
            deployment_id=deployment.deployment_id,
            path=deployment.file,
            revision=state.files.commit,
            manifest=manifest_view(deployment.manifest, state.snapshot.catalog, show_secrets=show),
        )
    )


async def put_manifest(call: Call) -> Reply:
    body: Manifest = call.body
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    catalog = state.snapshot.catalog
    data = unmasked(body.to_file_dict(), deployment.manifest.to_file_dict(), catalog)
    updated = parse_manifest(data, where="(request body)") if data != body.to_file_dict() else body
    reply = await save_manifest(call, deployment, updated, catalog)
    updated = reply.data
    return Reply(
        ManifestUpdated(
            deployment_id=updated.deployment_id,
            path=deployment.file,
            updated_at=updated.updated_at,
            updated_by=updated.updated_by,
            changes=updated.changes,
            change=updated.change,
        ),
        status=reply.status,
    )


ENDPOINTS = [
    Endpoint("GET", f"{DEPLOYMENT}/environments", list_environments,
             "List a deployment's environments", "Environments", reply=EnvironmentList,
             errors=(404, 422)),
    Endpoint("POST", f"{ENVIRONMENT}/enable", enable_environment, "Enable an environment",
             "Environments", reply=EnvironmentEnabled, body=EnvironmentEnableRequest,
             body_required=False, errors=(404, 409, 422, 502)),
    Endpoint("POST", f"{ENVIRONMENT}/disable", disable_environment, "Disable an environment",
             "Environments", reply=EnvironmentDisabled, body=EnvironmentDisableRequest,
             body_required=False, errors=(404, 409, 422, 502)),
    Endpoint("GET", f"{DEPLOYMENT}/manifest", get_manifest, "A deployment's manifest",
             "Deployments", reply=ManifestView, query=ManifestQuery, errors=(403, 404, 422)),
    Endpoint("PUT", f"{DEPLOYMENT}/manifest", put_manifest,
             "Replace a deployment's manifest (validated, then committed)", "Deployments",
             reply=ManifestUpdated, body=Manifest, errors=(404, 409, 422, 502)),
]  # fmt: skip
