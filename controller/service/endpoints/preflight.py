"""Pre-flight: what a deploy needs before it starts (seeds/002 `POST /validate/aws`,
seeds/003 `POST /deploy/validate` and `POST /deploy/prepare`).

Credentials, quotas and the backend are asked of the pre-flight seam
(`controller.adapters.preflight`): real with the Pulumi engine, "skipped: simulated" with
the simulated one. A deploy's preparation is the operation's own: the same plan, the same
refusals (a filter leaving out an upstream that never ran), so a prepared deploy starts.
The service never takes cloud keys in a request: the checks use the credentials the
service (or the environment's runner) deploys with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field
from starlette.concurrency import run_in_threadpool

from controller.adapters.preflight import SIMULATED, CheckResult
from controller.core.catalog import Deployment
from controller.core.environments import environment_view
from controller.core.models import AccountId, EnvironmentName, Region
from controller.operations.control import CONCURRENT_OPERATIONS, OperationError, OperationRequest
from controller.service.endpoints.deployments import find_deployment
from controller.service.endpoints.operation_payloads import StackGlob
from controller.service.endpoints.operations import prepare_operation
from controller.service.endpoints.payloads import Payload
from controller.service.endpoints.replies import Check, Issue, Reply
from controller.service.endpoints.views import environment_cost
from controller.service.http.access import API, DEPLOYMENT
from controller.service.http.errors import VALIDATION_INVALID_FORMAT, ApiError
from controller.service.http.routing import Call, Endpoint
from controller.service.http.routing import Reply as Answer

AwsCheckName = Literal["credentials", "permissions", "quotas"]
# seeds/001 "Operation Quotas": stacks per deployment by tier
STACKS_PER_DEPLOYMENT = {"free": 16, "standard": 50, "enterprise": None}
PERMISSIONS_NOT_CHECKED = (
    "skipped: IAM permissions are not simulated by the controller; a preview of the deploy "
    "(dryRun) reports any that are missing"
)


def check_of(result: CheckResult, name: str | None = None) -> Check:
    details = dict(result.details)
    if result.response_time_ms is not None:
        details["responseTime"] = result.response_time_ms
    return Check(name=name or result.name, status=result.status, message=result.message,
                 details=details)  # fmt: skip


def verdict(checks: list[Check]) -> bool | None:
    """True when every check passed, False when one failed, None (not known) when some
    were skipped and none failed: a skipped check is never a pass."""
    statuses = {check.status for check in checks}
    if "failed" in statuses:
        return False
    return True if statuses <= {"passed"} else None


# --- seeds/002 POST /validate/aws -------------------------------------------------------------


class AwsValidateRequest(Payload):
    region: Region
    account_id: AccountId | None = Field(
        None, validation_alias=AliasChoices("account_id", "accountId")
    )
    checks: list[AwsCheckName] = Field(
        default_factory=lambda: ["credentials", "permissions", "quotas"], min_length=1
    )


class AwsValidation(Reply):
    valid: bool | None = Field(description="null: some checks were skipped and none failed")
    simulated: bool
    region: str
    account_id: str | None
    checks: dict[str, Check]
    errors: list[Issue]
    warnings: list[str]


async def validate_aws(call: Call) -> Answer:
    body: AwsValidateRequest = call.body
    preflight = call.services.preflight

    def run() -> dict[str, Check]:
        results: dict[str, Check] = {}
        for name in dict.fromkeys(body.checks):
            if name == "credentials":
                found = preflight.credentials(account=body.account_id, region=body.region)
            elif name == "quotas":
                found = preflight.quotas(region=body.region)
            else:
                message = SIMULATED if preflight.simulated else PERMISSIONS_NOT_CHECKED
                found = CheckResult("permissions", "skipped", message)
            results[name] = check_of(found, name)
        return results

    checks = await run_in_threadpool(run)
    errors = [
        Issue(code="AWS_CREDENTIALS_INVALID" if name == "credentials" else "PREFLIGHT_FAILED",
              message=check.message)
        for name, check in checks.items() if check.status == "failed"
    ]  # fmt: skip
    warnings = [w for check in checks.values() for w in check.details.get("warnings", [])]
    return Answer(
        AwsValidation(
            valid=verdict(list(checks.values())),
            simulated=preflight.simulated,
            region=body.region,
            account_id=body.account_id,
            checks=checks,
            errors=errors,
            warnings=warnings,
        )
    )


# --- seeds/003 POST /deploy/validate ----------------------------------------------------------


class DeployValidateRequest(Payload):
    environment: EnvironmentName
    credentials: dict[str, Any] | None = Field(
        None, description="refused: the service never takes cloud keys in a request"
    )


class AccountInfo(Reply):
    id: str | None
    arn: str | None = None
    region: str


class DeployCredentials(Reply):
    deployment_id: str
    environment: str
    valid: bool | None = Field(description="null: some checks were skipped and none failed")
    simulated: bool
    permissions: dict[str, bool | None] = Field(
        description="credentials / backend: true passed, false failed, null not checked"
    )
    account_info: AccountInfo
    checks: list[Check]


def _environment(deployment: Deployment, name: str) -> tuple[str | None, str]:
    manifest = deployment.manifest
    if name not in manifest.environments:
        raise ApiError(404, "RESOURCE_NOT_FOUND", f"environment {name!r} not found",
                       details={"environment": name})  # fmt: skip
    return manifest.account_for(name), manifest.region_for(name)


async def validate_deploy_credentials(call: Call) -> Answer:
    body: DeployValidateRequest = call.body
    if body.credentials is not None:
        raise ApiError(
            400,
            VALIDATION_INVALID_FORMAT,
            "credentials: the service never takes cloud keys in a request; it checks the "
            "credentials it deploys with (the environment's role in GitHub Actions)",
            details={"field": "credentials"},
        )
    state = await call.services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    account, region = _environment(deployment, body.environment)
    preflight = call.services.preflight

    def run() -> list[CheckResult]:
        return [
            preflight.credentials(account=account, region=region),
            preflight.backend(deployment_id=deployment.deployment_id, environment=body.environment),
        ]

    credentials, backend = await run_in_threadpool(run)
    checks = [check_of(credentials, "aws-credentials"), check_of(backend, "pulumi-state")]

    def known(result: CheckResult) -> bool | None:
        return None if result.status == "skipped" else result.status == "passed"

    return Answer(
        DeployCredentials(
            deployment_id=deployment.deployment_id,
            environment=body.environment,
            valid=verdict(checks),
            simulated=preflight.simulated,
            permissions={"credentials": known(credentials), "backend": known(backend)},
            account_info=AccountInfo(
                id=credentials.details.get("accountId") or account,
                arn=credentials.details.get("arn"),
                region=region,
            ),
            checks=checks,
        )
    )


# --- seeds/003 POST /deploy/prepare -----------------------------------------------------------


class DeployPrepareRequest(Payload):
    environment: EnvironmentName
    stack_filter: list[StackGlob] = Field(default_factory=list, max_length=50)
    force: bool = False


class EstimatedCost(Reply):
    monthly: float
    currency: Literal["USD"] = "USD"
    basis: str = "the stack definitions' estimatedMonthlyCost"


class DeployPrepared(Reply):
    prepared: bool
    deployment_id: str
    environment: str
    simulated: bool
    checks: dict[str, Literal["pass", "fail", "skipped"]]
    details: list[Check]
    estimated_cost: EstimatedCost
    stacks_to_deploy: list[dict[str, Any]]
    stacks_skipped: list[dict[str, Any]]
    estimated_duration: int


_VERDICT = {"passed": "pass", "failed": "fail", "skipped": "skipped"}


async def prepare_deploy(call: Call) -> Answer:
    body: DeployPrepareRequest = call.body
    services = call.services
    state = await services.repo.fresh()
    deployment = find_deployment(call, state, call.params["deployment_id"])
    _, region = _environment(deployment, body.environment)
    request = OperationRequest(
        deployment_id=deployment.deployment_id,
        environment=body.environment,
        kind="deploy",
        started_by=call.user.identity,
        stack_filter=tuple(body.stack_filter),
        force=body.force,
        tier=call.user.tier,
    )
    details: list[Check] = []
    run: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    duration = 0
    try:
        prepared, cleanup = await prepare_operation(call, request)
    except (OperationError, ApiError) as error:
        details.append(Check(name="dependencies", status="failed", message=error.message,
                             details=dict(error.details)))  # fmt: skip
        details.append(Check(name="resources", status="skipped",
                             message="not planned: the dependencies check failed"))  # fmt: skip
    else:
        if cleanup is not None:
            cleanup()
        announced = prepared.announced
        run, skipped, duration = announced.run, announced.skipped, announced.estimated_duration
        catalog = state.snapshot.catalog.stacks
        resources = sum(catalog[i["name"]].estimated_resources for i in run if i["name"] in catalog)
        details.append(Check(name="dependencies", status="passed",
                             message="dependencies and placeholders resolvable"))  # fmt: skip
        details.append(
            Check(
                name="resources",
                status="passed",
                message=f"{len(run)} stack(s) to deploy (~{resources} resources), "
                f"{len(skipped)} unchanged"
                + (" (simulated backend)" if prepared.engine.simulated else ""),
                details={"stacks": len(run), "estimatedResources": resources},
            )
        )
    details += await run_in_threadpool(_quotas, call, deployment, body.environment, region)
    view = environment_view(deployment, state.snapshot.catalog, body.environment)
    cost = EstimatedCost(monthly=environment_cost(view))
    verdicts = {check.name: _VERDICT[check.status] for check in details if check.name != "cloud"}
    quota_checks = [c for c in details if c.name in ("quotas", "cloud")]
    verdicts["quotas"] = (
        "fail" if any(c.status == "failed" for c in quota_checks)
        else "pass" if all(c.status == "passed" for c in quota_checks) else "skipped"
    )  # fmt: skip
    prepared_ok = all(check.status != "failed" for check in details)
    reply = DeployPrepared(
        prepared=prepared_ok,
        deployment_id=deployment.deployment_id,
        environment=body.environment,
        simulated=services.preflight.simulated,
        checks=verdicts,
        details=details,
        estimated_cost=cost,
        stacks_to_deploy=run,
        stacks_skipped=skipped,
        estimated_duration=duration,
    )
    if not prepared_ok:
        failed = next(check for check in details if check.status == "failed")
        raise ApiError(
            424,
            "PREFLIGHT_FAILED",
            f"pre-flight check {failed.name} failed: {failed.message}",
            details=reply.dump(),
            suggestion="Fix what the failed check names, then prepare again",
        )
    return Answer(reply)


def _quotas(call: Call, deployment: Deployment, environment: str, region: str) -> list[Check]:
    """The seeds' operation quotas of the caller's tier, and the cloud's own."""
    user = call.user
    store = call.services.store
    tier = user.tier
    allowed = CONCURRENT_OPERATIONS.get(tier)
    running = [
        op for op in store.list_operations(statuses=("pending", "in_progress"), limit=1000)
        if op.created_by == user.identity
    ]  # fmt: skip
    stacks = len(environment_view(deployment, call.services.repo.current().snapshot.catalog,
                                  environment).instances)  # fmt: skip
    per_deployment = STACKS_PER_DEPLOYMENT.get(tier)
    problems = []
    if allowed is not None and len(running) >= allowed:
        problems.append(f"{len(running)} of {allowed} concurrent operation(s) already running")
    if per_deployment is not None and stacks > per_deployment:
        problems.append(f"{stacks} stacks, the {tier} tier allows {per_deployment} per deployment")
    tier_check = Check(
        name="quotas",
        status="failed" if problems else "passed",
        message="; ".join(problems) or f"within the {tier} tier's quotas",
        details={"tier": tier, "runningOperations": len(running), "concurrentLimit": allowed,
                 "stacks": stacks, "stacksLimit": per_deployment},
    )  # fmt: skip
    cloud = check_of(call.services.preflight.quotas(region=region), "cloud")
    return [tier_check, cloud]


ENDPOINTS = [
    Endpoint("POST", f"{API}/validate/aws", validate_aws,
             "Check AWS credentials and quotas of an account (seeds/002; real with the Pulumi "
             "engine, skipped with the simulated one)", "Validation", reply=AwsValidation,
             body=AwsValidateRequest),
    Endpoint("POST", f"{DEPLOYMENT}/deploy/validate", validate_deploy_credentials,
             "Check the credentials and backend a deploy of an environment would use "
             "(seeds/003)", "Operations", reply=DeployCredentials, body=DeployValidateRequest,
             errors=(404,)),
    Endpoint("POST", f"{DEPLOYMENT}/deploy/prepare", prepare_deploy,
             "Pre-flight a deploy: dependencies, resources, quotas, estimated cost "
             "(seeds/003); 424 when a check fails", "Operations", reply=DeployPrepared,
             body=DeployPrepareRequest, errors=(404, 424, 503)),
]  # fmt: skip
