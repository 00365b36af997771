"""seeds/002's stack-scoped spelling of the deployment-scoped stack endpoints.

seeds/002 names the deployment in the query (`/stacks/{name}/status?deployment_id=D1BRV40&
environment=dev`) where seeds/001 puts it in the path (`/deployments/D1BRV40/stacks/{name}/
status?environment=dev`). Both are served; these routes only move the query's deployment
into the path parameters and hand over to the deployment-scoped handler, so they answer
the same thing, with the same permission, and cannot drift. (`DELETE /stacks/{name}` with
a deployment is refused instead: in seeds/001 that path unregisters the stack type.)
"""

from __future__ import annotations

from dataclasses import replace

from pydantic import Field

from controller.core.models import DeploymentId, EnvironmentName
from controller.service.endpoints import operations, state
from controller.service.endpoints.operation_payloads import (
    DeploymentOutputs,
    EnvironmentQuery,
    OperationAccepted,
    OutputsQuery,
    StackOperationRequest,
    StackRefreshed,
    StackRefreshRequest,
    StackResources,
    StackStatus,
    StateExported,
    StateExportQuery,
)
from controller.service.endpoints.payloads import Payload
from controller.service.http.access import STACK
from controller.service.http.routing import Call, Endpoint, Reply


class StackScopeQuery(Payload):
    deployment_id: DeploymentId = Field(alias="deployment_id")
    environment: EnvironmentName


class StackDeployQuery(StackScopeQuery):
    dry_run: bool = Field(False, alias="dry_run", description="a preview: nothing changes")


def _scoped(call: Call, **parts: object) -> Call:
    query: StackScopeQuery = call.query
    params = {**call.params, "deployment_id": query.deployment_id}
    return replace(call, params=params, **parts)  # type: ignore[arg-type]


async def scoped_stack_status(call: Call) -> Reply:
    query = EnvironmentQuery(environment=call.query.environment)
    return await state.stack_status(_scoped(call, query=query))


async def scoped_stack_resources(call: Call) -> Reply:
    query = EnvironmentQuery(environment=call.query.environment)
    return await state.stack_resources(_scoped(call, query=query))


async def scoped_stack_outputs(call: Call) -> Reply:
    query = OutputsQuery(environment=call.query.environment, stack=call.params["stack_name"])
    return await state.deployment_outputs(_scoped(call, query=query))


async def scoped_stack_export(call: Call) -> Reply:
    query = StateExportQuery(environment=call.query.environment, stack=call.params["stack_name"])
    return await state.export_state(_scoped(call, query=query))


async def scoped_deploy_stack(call: Call) -> Reply:
    query: StackDeployQuery = call.query
    body = StackOperationRequest(environment=query.environment, preview=query.dry_run)
    return await operations.deploy_stack(_scoped(call, body=body))


async def scoped_refresh_stack(call: Call) -> Reply:
    body = StackRefreshRequest(environment=call.query.environment)
    return await state.refresh_stack(_scoped(call, body=body))


_SEE = "seeds/002's spelling of GET /deployments/{deploymentId}/stacks/{stackName}/"

ENDPOINTS = [
    Endpoint("GET", f"{STACK}/status", scoped_stack_status, f"{_SEE}status", "Stacks",
             reply=StackStatus, query=StackScopeQuery, errors=(404, 502, 503)),
    Endpoint("GET", f"{STACK}/resources", scoped_stack_resources, f"{_SEE}resources", "Stacks",
             reply=StackResources, query=StackScopeQuery, errors=(404, 502, 503)),
    Endpoint("GET", f"{STACK}/outputs", scoped_stack_outputs,
             "seeds/002's spelling of GET /deployments/{deploymentId}/outputs?stack=",
             "Stacks", reply=DeploymentOutputs, query=StackScopeQuery,
             errors=(404, 502, 503)),
    Endpoint("GET", f"{STACK}/export", scoped_stack_export,
             "seeds/002's spelling of GET /deployments/{deploymentId}/state/export?stack=",
             "State", reply=StateExported, query=StackScopeQuery, errors=(404, 502, 503)),
    Endpoint("POST", f"{STACK}/deploy", scoped_deploy_stack,
             "seeds/002's spelling of POST /deployments/{deploymentId}/stacks/{stackName}/"
             "deploy (dry_run: a preview)", "Operations", reply=OperationAccepted, status=202,
             query=StackDeployQuery, errors=(400, 404, 409, 422, 429, 503)),
    Endpoint("POST", f"{STACK}/refresh", scoped_refresh_stack,
             "seeds/002's spelling of POST /deployments/{deploymentId}/stacks/{stackName}/"
             "refresh (seeds/002 2.5)", "Stacks", reply=StackRefreshed, query=StackScopeQuery,
             errors=(404, 409, 502, 503)),
]  # fmt: skip
