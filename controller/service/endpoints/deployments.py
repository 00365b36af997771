"""Deployments: create, list, show, update, delete and validate (seeds/001, "Deployment
Endpoints").

A deployment is a manifest in the repo, so creating, updating and deleting one is a write
of that file through `RepoState.write` (validated first, then committed or proposed as a
pull request). Outside the Administrator role a caller sees only its organizations'
deployments: another organization's is "not found", and creating one in another
organization is refused (`AUTHZ_ORGANIZATION_MISMATCH`).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from typing import Any

from starlette.concurrency import run_in_threadpool

from controller.adapters.catalog_sources import WriteOutcome
from controller.core import rbac
from controller.core.catalog import Catalog, Deployment
from controller.core.models import Manifest
from controller.core.problems import Problem
from controller.core.scaffold import (
    ID_SPACE,
    deployment_id_from,
    manifest_path,
    render_manifest,
    scaffold_manifest,
)
from controller.core.secret_config import catalog_secret_keys, restore_masked
from controller.edits.catalog_state import CatalogState, WriteResult
from controller.edits.changes import manifest_changes
from controller.edits.environments import manifest_unchanged
from controller.operations.drift import latest_drift
from controller.operations.records import stack_states
from controller.service.endpoints.payloads import (
    DeleteQuery,
    DeploymentCreateRequest,
    DeploymentListQuery,
    DeploymentQuery,
    DeploymentUpdateRequest,
    DeploymentValidateRequest,
    environment_choices,
)
from controller.service.endpoints.replies import (
    Check,
    DeploymentCreated,
    DeploymentDeleted,
    DeploymentDetail,
    DeploymentList,
    DeploymentUpdated,
    DeploymentValidation,
    Issue,
)
from controller.service.endpoints.views import (
    Recorded,
    change_of,
    checks,
    default_environment,
    deployment_detail,
    environments_of,
    issue,
    paginate,
    problems_for_deployment,
    select_deployments,
    stack_instances,
    summarize,
    visible_rows,
)
from controller.service.http.access import API, DEPLOYMENT
from controller.service.http.envelope import EncodedJSON
from controller.service.http.errors import (
    AUTHZ_FORBIDDEN,
    AUTHZ_ORGANIZATION_MISMATCH,
    DEPLOYMENT_HAS_ACTIVE_STACKS,
    RESOURCE_ALREADY_EXISTS,
    VALIDATION_INVALID_FORMAT,
    ApiError,
    not_found,
    problems_error,
)
from controller.service.http.routing import Call, Endpoint, Reply, validate_document

ALL_CHECKS = (
    "manifest",
    "dependencies",
    "configuration",
    "runtime-placeholders",
    "aws-credentials",
    "pulumi-state",
)

# --- shared by the deployment, environment and manifest endpoints -------------------------


def sees(call: Call) -> Callable[[str], bool]:
    user = call.user
    return lambda organization: rbac.sees_organization(user.roles, user.organizations, organization)


def find_deployment(call: Call, state: CatalogState, deployment_id: str) -> Deployment:
    """The caller's deployment, or 404 (also for another organization's: never its data)."""
    deployment = state.snapshot.deployments.get(deployment_id)
    if deployment is not None and not call.user.reaches(deployment_id):
        raise not_found("deployment", deployment_id)  # a service token's other deployments
    if deployment is None or not sees(call)(deployment.manifest.organization):
        broken = broken_manifest(state, deployment_id)
        if deployment is None and broken and rbac.is_administrator(call.user.roles):
            raise problems_error(
                [p for p in state.snapshot.problems if p.file == broken], status=422
            )
        raise not_found("deployment", deployment_id)
    return deployment


def broken_manifest(state: CatalogState, deployment_id: str) -> str | None:
    """The manifest path of a deployment whose file is in the repo but does not load."""
    prefix = f"deployments/{deployment_id}-"
    for path in state.files.files:
        if path.startswith(prefix) and path.endswith("/manifest.yaml"):
            return path
    return None


def recorded(call: Call, deployment_id: str | None = None) -> Recorded:
    """What statuses are derived from: the latest operations and the stacks' states."""
    return Recorded.of_store(call.services.store, deployment_id)


def parse_manifest(data: dict[str, Any], *, where: str) -> Manifest:
    manifest, problems = validate_document(data, Manifest, file=where)
    if manifest is None:
        raise problems_error(problems, status=400)
    return manifest


async def write(
    call: Call,
    changes: dict[str, str | None],
    *,
    message: str,
    deployments: list[str] | None,
    check: Callable[[CatalogState], None] | None = None,
) -> WriteResult:
    result: WriteResult = await run_in_threadpool(
        lambda: call.services.repo.write(
            changes,
            message=message,
            author=call.user.author,
            deployments=deployments,
            check=check,
        )
    )
    audit_edit(call, sorted(changes), result.outcome)
    return result


def audit_edit(call: Call, files: list[str], outcome: WriteOutcome | None) -> None:
    """Add what a write changed to the request's audit entry (nothing if it wrote nothing)."""
    if outcome is None:
        return
    call.audit(files=sorted(files), commit=outcome.commit)
    if outcome.pull_request_url:
        call.audit(pullRequest=outcome.pull_request_url)


def written_status(result: WriteResult, status: int) -> int:
    """202 when the change is only proposed (a pull request), else the given status."""
    return 202 if result.outcome.mode == "pull-request" else status


# --- endpoints --------------------------------------------------------------------------------


async def create_deployment(call: Call) -> Reply:
    body: DeploymentCreateRequest = call.body
    user = call.user
    if not sees(call)(body.organization):
        raise ApiError(
            403,
            AUTHZ_ORGANIZATION_MISMATCH,
            f"you cannot create deployments for organization {body.organization!r}",
            details={"organization": body.organization, "yours": list(user.organizations)},
        )
    state = await call.services.repo.fresh()
    taken = set(state.snapshot.deployments)
    deployment_id = body.deployment_id or fresh_deployment_id(taken)
    enabled, accounts, regions = environment_choices(body.environments, body.accounts)
    manifest = scaffold_manifest(
        state.snapshot.catalog,
        deployment_id=deployment_id,
        organization=body.organization,
        project=body.project,
        template=body.template,
        region=body.region,
        domain=body.domain,
        accounts=accounts,
        enabled_environments=enabled,
        contact=body.contact.model_dump() if body.contact else None,
        tags=body.tags,
        regions=regions,
    )
    path = manifest_path(manifest)

    def absent(current: CatalogState) -> None:
        existing = current.snapshot.deployments.get(deployment_id)
        if (
            existing is not None
            or broken_manifest(current, deployment_id)
            or any(p.startswith(path.rsplit("/", 1)[0] + "/") for p in current.files.files)
        ):
            raise ApiError(
                409,
                RESOURCE_ALREADY_EXISTS,
                f"deployment {deployment_id} ({manifest.directory_name}) already exists",
                details={"deploymentId": deployment_id},
            )

    absent(state)
    result = await write(
        call,
        {path: render_manifest(manifest)},
        message=f"Create deployment {deployment_id} ({manifest.organization}/{manifest.project})",
        deployments=[deployment_id],
        check=absent,
    )
    call.audit(deploymentId=deployment_id)
    created = result.future.deployments[deployment_id]
    catalog = result.future.catalog
    environment = default_environment(created)
    return Reply(
        DeploymentCreated(
            deployment_id=deployment_id,
            organization=manifest.organization,
            project=manifest.project,
            domain=manifest.domain,
            template=manifest.template,
            status="initialized",
            created_at=call.services.now(),
            created_by=user.identity,
            directory=created.directory,
            manifest_path=path,
            environments=environments_of(created, catalog, Recorded()),
            stacks=stack_instances(created, catalog, environment) if environment else [],
            change=change_of(result.outcome),
        ),
        status=written_status(result, 201),
    )


async def init_deployment(call: Call) -> Reply:
    """seeds/002's `POST /deployments/init`: the same as `POST /deployments`."""
    return await create_deployment(call)


def fresh_deployment_id(taken: set[str]) -> str:
    while True:
        candidate = deployment_id_from(secrets.randbelow(ID_SPACE))
        if candidate not in taken:
            return candidate


async def list_deployments(call: Call) -> Reply:
    query: DeploymentListQuery = call.query
    state = await call.services.repo.fresh()
    store = call.services.store
    ops = store.latest_operations()
    records = store.list_stack_states()
    user = call.user
    visibility = None if rbac.is_administrator(user.roles) else user.organizations
    key = (visibility, user.deployments, call.request.scope["query_string"])
    # the same page for the same caller scope is built (and encoded) once per repo
    # revision and run state: the store hands back the same operations mapping and the
    # same stack states until one changes, and the state is the revision catalog_state
    # serves
    pages: dict[Any, tuple[Any, Any, EncodedJSON]] = state.remember("deployment-pages", dict)
    known = pages.get(key)
    if known is not None and known[0] is ops and known[1] is records:
        return Reply(known[2])
    found = Recorded(ops, stack_states(records))
    rows = [
        summarize(deployment, state.files.times, found)
        for deployment in state.snapshot.deployments.values()
    ]
    visible = [row for row in visible_rows(rows, sees(call)) if user.reaches(row.deployment_id)]
    selected = select_deployments(visible, query)
    page, pagination = paginate(selected, page=query.page, limit=query.limit, offset=query.offset)
    encoded = EncodedJSON(DeploymentList(deployments=page, pagination=pagination).dump())
    if len(pages) >= 2000:
        pages.clear()
    pages[key] = (ops, records, encoded)
    return Reply(encoded)


async def get_deployment(call: Call) -> Reply:
    query: DeploymentQuery = call.query
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    environment = query.environment or default_environment(deployment)
    if environment is not None and environment not in deployment.manifest.environments:
        raise not_found("environment", environment)
    drift = (
        await run_in_threadpool(
            latest_drift, call.services.store, deployment.deployment_id, environment
        )
        if environment is not None
        else {}
    )
    detail: DeploymentDetail = deployment_detail(
        deployment,
        state.snapshot.catalog,
        environment=environment,
        times=state.files.times,
        authors=state.files.authors,
        recorded=recorded(call, deployment.deployment_id),
        drift=drift,
        show_secrets=shows_secrets(call, query.show_secrets),
    )
    return Reply(detail)


async def update_deployment(call: Call) -> Reply:
    body: DeploymentUpdateRequest = call.body
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    before = deployment.manifest.to_file_dict()
    if body.manifest:
        data = body.manifest
    else:
        data = dict(before)
        for name in body.model_fields_set - {"manifest"}:
            value = getattr(body, name)
            alias = type(body).model_fields[name].alias or name
            if value is None:
                data.pop(alias, None)
            else:
                data[alias] = value.model_dump() if hasattr(value, "model_dump") else value
    updated = parse_manifest(unmasked(data, before, state.snapshot.catalog), where="(request body)")
    return await save_manifest(call, deployment, updated, state.snapshot.catalog)


def shows_secrets(call: Call, asked: bool) -> bool:
    """Whether this answer may hold secret config values in clear: only when asked, and only
    with `secrets:read` (the Administrator role); each time is audited."""
    if not asked:
        return False
    if rbac.SECRETS_READ not in call.user.permissions:
        raise ApiError(
            403,
            AUTHZ_FORBIDDEN,
            "showSecrets=true needs permission 'secrets:read' (the Administrator role); "
            "without it secret config values read [secret]",
            details={"required": rbac.SECRETS_READ},
        )
    call.audit(secretsShown=True)
    return True


def unmasked(data: dict[str, Any], current: dict[str, Any], catalog: Catalog) -> dict[str, Any]:
    """Manifest data sent back after a masked read: each `[secret]` in a secret key keeps
    the value stored there (400 where there is none to keep)."""
    restored, missing = restore_masked(data, current, catalog_secret_keys(catalog.stacks))
    if missing:
        raise problems_error(
            [
                Problem(
                    "VALIDATION_INVALID_FORMAT",
                    f"{place.field}: '[secret]' stands for the value stored there, and there is "
                    "none; send the value, or a '{{SECRET:<name>}}' reference",
                    details={"field": f"manifest.{place.field}"},
                )
                for place in missing
            ],
            status=400,
        )
    return restored


async def save_manifest(
    call: Call, deployment: Deployment, updated: Manifest, catalog: Catalog
) -> Reply:
    """Write a changed manifest of an existing deployment (its identity may not change)."""
    current = deployment.manifest
    for field, old, new in (
        ("deploymentId", current.deployment_id, updated.deployment_id),
        ("organization", current.organization, updated.organization),
        ("project", current.project, updated.project),
    ):
        if old != new:
            raise problems_error(
                [
                    Problem(
                        "VALIDATION_INVALID_FORMAT",
                        f"{field} cannot change ({old!r} → {new!r}): it names the deployment's "
                        "folder; create a new deployment instead",
                        details={"field": f"manifest.{field}"},
                    )
                ],
                status=400,
            )
    changes = manifest_changes(current, updated, catalog)
    now, by = call.services.now(), call.user.identity
    deployment_id = current.deployment_id
    if not changes:
        return Reply(
            DeploymentUpdated(
                deployment_id=deployment_id, updated_at=now, updated_by=by, changes=[], change=None
            )
        )
    result = await write(
        call,
        {deployment.file: render_manifest(updated)},
        message=f"Update deployment {deployment_id}\n\n" + "\n".join(changes),
        deployments=[deployment_id],
        check=manifest_unchanged(deployment),
    )
    return Reply(
        DeploymentUpdated(
            deployment_id=deployment_id,
            updated_at=now,
            updated_by=by,
            changes=changes,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 200),
    )


async def delete_deployment(call: Call) -> Reply:
    query: DeleteQuery = call.query
    if query.environment is not None:
        deployment_id = call.params["deployment_id"]
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "DELETE /api/v1/deployments/{id} deletes the deployment's manifest; to destroy the "
            f"stacks of one environment use POST /api/v1/deployments/{deployment_id}/destroy "
            f'with {{"environment": "{query.environment}"}}',
            details={"field": "environment"},
            suggestion=f"POST /api/v1/deployments/{deployment_id}/destroy",
        )
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    deployment_id = deployment.deployment_id
    if not query.force:
        active = await run_in_threadpool(
            call.services.inventory.active_stacks,
            deployment_id,
            list(deployment.manifest.environments),
        )
        if active:
            raise ApiError(
                400,
                DEPLOYMENT_HAS_ACTIVE_STACKS,
                "Cannot delete deployment with active stacks",
                details={
                    "activeStacks": sorted({s for stacks in active.values() for s in stacks}),
                    "environments": sorted(active),
                    "suggestion": "Run destroy operation first or use force=true to delete",
                },
            )
    result = await write(
        call,
        {deployment.file: None},
        message=f"Delete deployment {deployment_id}" + (" (forced)" if query.force else ""),
        deployments=[deployment_id],
        check=manifest_unchanged(deployment),
    )
    call.audit(deploymentId=deployment_id, forced=query.force)
    return Reply(
        DeploymentDeleted(
            deployment_id=deployment_id,
            deleted_at=call.services.now(),
            deleted_by=call.user.identity,
            forced=query.force,
            change=change_of(result.outcome),
        ),
        status=written_status(result, 200),
        message=f"Deployment {deployment_id} deleted successfully",
    )


async def validate_deployment(call: Call) -> Reply:
    body: DeploymentValidateRequest = call.body
    state = await call.services.repo.fresh()
    deployment_id = call.params["deployment_id"]
    deployment = state.snapshot.deployments.get(deployment_id)
    broken = broken_manifest(state, deployment_id) if deployment is None else None
    if broken and rbac.is_administrator(call.user.roles):
        problems = [p for p in state.snapshot.problems if p.file == broken]
        file = broken
    else:
        deployment = find_deployment(call, state, deployment_id)
        if body.environment and body.environment not in deployment.manifest.environments:
            raise not_found("environment", body.environment)
        file = deployment.file
        problems = problems_for_deployment(
            state.problems([deployment_id]), deployment.file, body.environment
        )
    errors = [p for p in problems if p.severity == "error"]
    wanted = body.checks or ALL_CHECKS
    external = (
        await run_in_threadpool(_external_checks, call, deployment, body.environment, wanted)
        if deployment is not None
        else {}
    )
    issues = [issue(p) for p in errors] + [
        Issue(code=EXTERNAL_CODES[name], message=check.message)
        for name, check in external.items()
        if check.status == "failed"
    ]
    call.audit(deploymentId=deployment_id, valid=not issues, file=file)
    return Reply(
        DeploymentValidation(
            deployment_id=deployment_id,
            environment=body.environment,
            valid=not issues,
            checks=checks(problems, wanted, external=external),
            warnings=[issue(p) for p in problems if p.severity != "error"],
            errors=issues,
        )
    )


EXTERNAL_CODES = {
    "aws-credentials": "AWS_CREDENTIALS_INVALID",
    "pulumi-state": "PULUMI_STATE_ERROR",
}


def _external_checks(
    call: Call, deployment: Deployment, environment: str | None, wanted: Iterable[str]
) -> dict[str, Check]:
    """The checks that ask the cloud and the backend (the pre-flight seam): real with the
    Pulumi engine, skipped with the simulated one."""
    chosen = environment or default_environment(deployment)
    if chosen is None:
        return {}
    manifest = deployment.manifest
    preflight = call.services.preflight
    found: dict[str, Check] = {}
    for name in wanted:
        if name == "aws-credentials":
            result = preflight.credentials(
                account=manifest.account_for(chosen), region=manifest.region_for(chosen)
            )
        elif name == "pulumi-state":
            result = preflight.backend(deployment_id=deployment.deployment_id, environment=chosen)
        else:
            continue
        details = dict(result.details) | {"environment": chosen}
        found[name] = Check(name=name, status=result.status, message=result.message,
                            details=details)  # fmt: skip
    return found


ENDPOINTS = [
    Endpoint("POST", f"{API}/deployments", create_deployment,
             "Create a deployment (cloud init): a manifest committed to the repo", "Deployments",
             reply=DeploymentCreated, status=201, body=DeploymentCreateRequest,
             errors=(409, 422, 502)),
    Endpoint("POST", f"{API}/deployments/init", init_deployment,
             "Create a deployment (seeds/002's path for POST /deployments)", "Deployments",
             reply=DeploymentCreated, status=201, body=DeploymentCreateRequest,
             errors=(409, 422, 502)),
    Endpoint("GET", f"{API}/deployments", list_deployments,
             "List deployments (filters, sorting, pagination)", "Deployments",
             reply=DeploymentList, query=DeploymentListQuery),
    Endpoint("GET", DEPLOYMENT, get_deployment, "Show a deployment", "Deployments",
             reply=DeploymentDetail, query=DeploymentQuery, errors=(404, 422)),
    Endpoint("PUT", DEPLOYMENT, update_deployment, "Update a deployment's manifest fields",
             "Deployments", reply=DeploymentUpdated, body=DeploymentUpdateRequest,
             errors=(404, 409, 422, 502)),
    Endpoint("DELETE", DEPLOYMENT, delete_deployment,
             "Delete a deployment (refused while stacks are deployed, unless force=true)",
             "Deployments", reply=DeploymentDeleted, query=DeleteQuery,
             errors=(404, 409, 422, 502, 503)),
    Endpoint("POST", f"{DEPLOYMENT}/validate", validate_deployment,
             "Validate a deployment (cloud validate)", "Deployments",
             reply=DeploymentValidation, body=DeploymentValidateRequest, body_required=False,
             errors=(404,)),
]  # fmt: skip
