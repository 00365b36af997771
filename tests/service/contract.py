"""The API contract of the five source documents, one row per endpoint they define.

Each row says how the endpoint is served here:

- `documented`: at the document's path (under our base `/api/v1`, the seeds' base URL),
  taking the document's example request as it shows it, answering the fields it shows;
- `mapped`: served, at another path or with the v3.1 names where an older document
  differs (seeds/002's snake_case, seeds/003's and seeds/004's other products), the row
  says where and sends the mapped request;
- `missing`: not served, and why (the row checks that the documented path answers 404).

`test_contract.py` runs every row against one service (a local checkout, the simulated
engine, D1BRV40 deployed). `python -m tests.service.contract` prints the counts.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["documented", "mapped", "missing"]


@dataclass(frozen=True)
class Row:
    doc: str  # "000" … "004"
    endpoint: str  # as the document writes it: "POST /auth/login"
    kind: Kind
    served: str | None = None  # "POST /api/v1/auth/login" ({placeholders} from the world)
    body: Any = None
    query: dict[str, str] | None = None
    form: str | None = None
    status: int = 200
    fields: tuple[str, ...] = ()  # dotted paths in `data` (`a[].b`: in the first item)
    top: tuple[str, ...] = ()  # keys beside `data` (message, warning)
    envelope: bool = True
    auth: str = "admin"  # admin | session (a fresh sign-in) | service | runner | none
    setup: str | None = None  # a step of the world to run first
    special: str | None = None  # a check of its own (websocket, sse)
    note: str = ""
    phase: int = 1  # 0 reads, 1 writes, 2 operations, 3 destroys: the order rows run in
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.doc} {self.endpoint}"


API = "/api/v1"
D = f"{API}/deployments/{{deployment}}"

# --- seeds/001's example requests, as the document shows them (its // comments left out) ---

LOGIN = {"username": "user@example.com", "password": "SecurePassword123!", "mfaCode": "123456"}
API_KEY = {
    "name": "CI/CD Pipeline Key",
    "description": "GitHub Actions deployment automation",
    "expiresIn": 31536000,
    "permissions": ["deployments:read", "deployments:deploy", "stacks:deploy", "logs:read"],
}
CREATE = {
    "organization": "CompanyA",
    "project": "ecommerce",
    "domain": "ecommerce.companyA.com",
    "template": "default",
    "region": "us-east-1",
    "accounts": {"dev": "111111111111", "stage": "222222222222", "prod": "333333333333"},
    "contact": {"email": "devops@companyA.com", "team": "Platform Team"},
    "tags": {"Department": "Engineering", "CostCenter": "CC-1234"},
}
UPDATE = {
    "contact": {"email": "new-devops@companyA.com", "team": "Platform Engineering"},
    "tags": {"Department": "Engineering", "CostCenter": "CC-5678", "Environment": "Production"},
    "manifest": {},
}
DEPLOY = {
    "environment": "dev",
    "preview": False,
    "parallel": True,
    "continueOnError": False,
    "smartSkip": True,
    "stackFilter": ["network", "security", "compute-*"],
    "webhookUrl": "https://webhook.example.com/deployment-status",
}
DESTROY = {
    "environment": "dev",
    "preview": False,
    "skipConfirmation": False,
    "stackFilter": ["compute-*", "data-*"],
}
VALIDATE = {
    "environment": "dev",
    "checks": ["manifest", "dependencies", "aws-credentials", "pulumi-state",
               "runtime-placeholders"],
}  # fmt: skip
REGISTER = {
    "name": "custom-monitoring",
    "displayName": "Custom Monitoring Stack",
    "description": "CloudWatch dashboards, alarms, and custom metrics",
    "category": "devops",
    "layer": 5,
    "dependencies": ["network", "security", "compute-ec2"],
    "outputs": {"dashboardUrl": {"type": "string", "description": "CloudWatch dashboard URL"}},
    "configuration": {
        "alarmEmail": {
            "type": "string", "description": "Email for alarm notifications", "required": True,
        }
    },
    "stackDefinition": {},
}  # fmt: skip
REREGISTER = {
    "description": "Enhanced monitoring with custom metrics and dashboards",
    "layer": 6,
    "configuration": {
        "alarmEmail": {
            "type": "string", "description": "Email for alarm notifications", "required": True,
        },
        "slackWebhook": {
            "type": "string", "description": "Slack webhook for notifications", "required": False,
        },
    },
}  # fmt: skip
ONE_STACK = {"environment": "dev", "preview": False, "force": False}
# seeds/001's template names stacks of the v3.0 catalog (data-s3, ml-sagemaker…): the v3.1
# catalog's 16 stacks stand in for them
TEMPLATE = {
    "name": "custom-ml-platform",
    "displayName": "Custom ML Platform",
    "description": "Custom machine learning platform with data pipelines",
    "stacks": ["network", "security", "secrets", "storage", "database-rds", "monitoring"],
    "defaultConfig": {"network": {"vpcCidr": "10.0.0.0/16", "availabilityZones": 3}},
    "environments": {
        "dev": {"region": "us-east-1", "enabled": True},
        "prod": {"region": "us-west-2", "enabled": False},
    },
}
RETEMPLATE = {
    "description": "Enhanced ML platform with real-time inference",
    "stacks": ["network", "security", "secrets", "storage", "database-rds", "compute-lambda",
               "monitoring"],
}  # fmt: skip
INIT_002 = {
    "organization": "MyOrg",
    "project": "my-project",
    "domain": "myproject.example.com",
    "template": "default",
    "environments": {
        "dev": {"enabled": True, "region": "us-east-1", "account_id": "111111111111"},
        "stage": {"enabled": True, "region": "us-east-1", "account_id": "222222222222"},
    },
}
GENERATE_002 = {
    "organization": "MyOrg",
    "project": "my-project",
    "domain": "myproject.example.com",
    "environments": {"dev": {"enabled": True, "region": "us-east-1", "account_id": "111111111111"}},
}
SCOPE = {"deployment_id": "D1BRV40", "environment": "dev"}

OPERATION = (
    "operationId", "deploymentId", "environment", "type", "status", "startedAt", "startedBy",
    "progress.totalStacks", "progress.completedStacks", "progress.failedStacks",
    "progress.inProgressStacks", "progress.pendingStacks", "progress.percentage",
    "currentStacks", "completedStacks[].name", "completedStacks[].status",
    "completedStacks[].startedAt", "completedStacks[].completedAt", "completedStacks[].duration",
    "completedStacks[].resourcesCreated", "estimatedTimeRemaining", "logs[].timestamp",
    "logs[].level", "logs[].message",
)  # fmt: skip
STARTED = (
    "deploymentId", "environment", "operationId", "status", "startedAt", "startedBy",
    "estimatedDuration", "websocketChannel", "statusUrl",
)  # fmt: skip

R = Row
ROWS_001: list[Row] = [
    # authentication
    R("001", "POST /auth/login", "documented", f"POST {API}/auth/login", body=LOGIN, auth="none",
      fields=("accessToken", "idToken", "refreshToken", "expiresIn", "tokenType", "user.id",
              "user.email", "user.name", "user.roles")),
    R("001", "POST /auth/logout", "documented", f"POST {API}/auth/logout", auth="session",
      top=("message",)),
    R("001", "POST /auth/refresh", "documented", f"POST {API}/auth/refresh", auth="none",
      setup="refresh_token", body={"refreshToken": "{refresh}"},
      fields=("accessToken", "idToken", "expiresIn", "tokenType")),
    R("001", "POST /auth/api-keys", "documented", f"POST {API}/auth/api-keys", body=API_KEY,
      status=201, fields=("apiKey", "keyId", "name", "createdAt", "expiresAt", "permissions"),
      top=("warning",)),
    R("001", "GET /auth/api-keys", "documented", f"GET {API}/auth/api-keys", phase=0,
      setup="api_key", fields=("apiKeys[].keyId", "apiKeys[].name", "apiKeys[].createdAt",
                               "apiKeys[].expiresAt", "apiKeys[].lastUsedAt",
                               "apiKeys[].status", "total")),
    R("001", "DELETE /auth/api-keys/:keyId", "documented", f"DELETE {API}/auth/api-keys/{{key}}",
      setup="api_key", top=("message",)),
    # deployments
    R("001", "POST /deployments", "documented", f"POST {API}/deployments", body=CREATE,
      status=201, fields=("deploymentId", "organization", "project", "domain", "template",
                          "status", "createdAt", "createdBy", "directory", "environments[].name",
                          "environments[].enabled", "environments[].region",
                          "environments[].account", "environments[].status", "stacks[].name",
                          "stacks[].layer", "stacks[].status", "stacks[].dependencies")),
    R("001", "GET /deployments", "documented", f"GET {API}/deployments", phase=0,
      query={"page": "1", "limit": "20", "status": "active", "organization": "CompanyA"},
      fields=("deployments", "pagination.page", "pagination.limit", "pagination.total",
              "pagination.totalPages")),
    R("001", "GET /deployments/:deploymentId", "documented", f"GET {D}", phase=0,
      fields=("deploymentId", "organization", "project", "domain", "template", "status",
              "directory", "createdAt", "updatedAt", "createdBy", "lastDeployedAt",
              "lastDeployedBy", "contact.email", "contact.team", "tags", "environments[].name",
              "environments[].enabled", "environments[].region", "environments[].account",
              "environments[].status", "environments[].stacksDeployed",
              "environments[].stacksFailed", "environments[].lastDeployedAt",
              "environments[].endpoints", "stacks[].name", "stacks[].layer", "stacks[].status",
              "stacks[].dependencies", "stacks[].outputs", "stacks[].resourceCount",
              "stacks[].lastDeployedAt", "manifest", "metrics.totalResources",
              "metrics.deploymentDuration", "metrics.estimatedMonthlyCost")),
    R("001", "PUT /deployments/:deploymentId", "documented", f"PUT {D}", body=UPDATE,
      fields=("deploymentId", "updatedAt", "updatedBy", "changes")),
    R("001", "DELETE /deployments/:deploymentId", "documented",
      f"DELETE {API}/deployments/{{created}}", query={"force": "false"}, setup="created",
      fields=("deploymentId", "deletedAt", "deletedBy"), top=("message",)),
    R("001", "POST /deployments/:deploymentId/deploy", "documented", f"POST {D}/deploy",
      body=DEPLOY, status=202, phase=2, top=("message",),
      fields=(*STARTED, "stacksToDeploy[].name", "stacksToDeploy[].layer",
              "stacksToDeploy[].status", "stacksToDeploy[].estimatedDuration", "stacksSkipped")),
    R("001", "POST /deployments/:deploymentId/destroy", "documented", f"POST {D}/destroy",
      body=DESTROY, status=202, phase=3, setup="no_compute_dependents", top=("message",),
      fields=(*STARTED, "stacksToDestroy")),
    R("001", "POST /deployments/:deploymentId/validate", "documented", f"POST {D}/validate",
      body=VALIDATE, phase=0,
      fields=("deploymentId", "environment", "valid", "checks[].name", "checks[].status",
              "checks[].message", "warnings", "errors")),
    R("001", "GET /deployments/:deploymentId/operations/:operationId", "documented",
      f"GET {D}/operations/{{operation}}", phase=0, fields=OPERATION),
    # stacks
    R("001", "GET /stacks", "documented", f"GET {API}/stacks", phase=0,
      query={"category": "compute", "layer": "3"}, fields=("stacks", "total")),
    R("001", "GET /stacks/:stackName", "mapped", f"GET {API}/stacks/network", phase=0,
      fields=("name", "displayName", "description", "category", "layer", "dependencies",
              "dependents", "outputs.vpcId.type", "outputs.vpcId.description",
              "configuration.vpcCidr.type", "configuration.vpcCidr.default",
              "resources[].type", "resources[].description", "estimatedResources",
              "estimatedDuration", "estimatedMonthlyCost", "templates"),
      note="every field but `documentation` (no docs site per stack: its definition is "
      "stacks/<name>/stack.yaml)"),
    R("001", "POST /stacks", "documented", f"POST {API}/stacks", body=REGISTER, status=201,
      fields=("name", "displayName", "registeredAt", "registeredBy", "status")),
    R("001", "PUT /stacks/:stackName", "documented", f"PUT {API}/stacks/custom-monitoring",
      body=REREGISTER, setup="registered", fields=("name", "updatedAt", "updatedBy", "changes")),
    R("001", "DELETE /stacks/:stackName", "documented", f"DELETE {API}/stacks/custom-monitoring",
      query={"force": "false"}, setup="registered",
      fields=("name", "unregisteredAt", "unregisteredBy"), top=("message",)),
    R("001", "POST /deployments/:deploymentId/stacks/:stackName/deploy", "documented",
      f"POST {D}/stacks/network/deploy", body=ONE_STACK, status=202, phase=2, top=("message",),
      fields=(*STARTED, "stackName")),
    R("001", "POST /deployments/:deploymentId/stacks/:stackName/destroy", "mapped",
      f"POST {D}/stacks/monitoring/destroy", body=ONE_STACK, status=202, phase=3,
      top=("message",), fields=(*STARTED, "stackName"),
      note="the example destroys network, on which deployed stacks depend: that is refused "
      "(409) rather than orphaning them; shown with monitoring, which nothing needs"),
    R("001", "GET /deployments/:deploymentId/stacks/:stackName/status", "documented",
      f"GET {D}/stacks/network/status", query={"environment": "dev"}, phase=0,
      fields=("deploymentId", "stackName", "environment", "status", "lastDeployedAt",
              "lastDeployedBy", "outputs.vpcId", "resources[].type", "resources[].name",
              "resources[].id", "resources[].status", "resourceCount", "deploymentDuration",
              "driftDetected")),
    # environments
    R("001", "GET /deployments/:deploymentId/environments", "documented",
      f"GET {D}/environments", phase=0,
      fields=("deploymentId", "environments[].name", "environments[].enabled",
              "environments[].region", "environments[].account", "environments[].status",
              "environments[].stacksDeployed", "environments[].stacksFailed",
              "environments[].lastDeployedAt", "environments[].endpoints",
              "environments[].estimatedMonthlyCost", "total")),
    R("001", "POST /deployments/:deploymentId/environments/:environmentName/enable",
      "documented", f"POST {D}/environments/stage/enable", body={"autoDeploy": False},
      top=("message",),
      fields=("deploymentId", "environment", "enabled", "enabledAt", "enabledBy", "status")),
    R("001", "POST /deployments/:deploymentId/environments/:environmentName/disable",
      "documented", f"POST {D}/environments/stage/disable", body={"destroyResources": False},
      top=("message",),
      fields=("deploymentId", "environment", "enabled", "disabledAt", "disabledBy", "status")),
    # templates
    R("001", "GET /templates", "documented", f"GET {API}/templates", phase=0,
      fields=("templates[].name", "templates[].displayName", "templates[].description",
              "templates[].type", "templates[].stacks", "templates[].estimatedResources",
              "templates[].estimatedMonthlyCost", "templates[].createdAt", "total")),
    R("001", "GET /templates/:templateName", "mapped", f"GET {API}/templates/default", phase=0,
      fields=("name", "displayName", "description", "type", "version", "stacks[].name",
              "stacks[].layer", "stacks[].required", "stacks[].description", "defaultConfig",
              "environments.dev.region", "environments.dev.enabled", "estimatedResources",
              "estimatedMonthlyCost", "deploymentTime", "createdAt"),
      note="every field but `documentation` (no docs site per template)"),
    R("001", "POST /templates", "mapped", f"POST {API}/templates", body=TEMPLATE, status=201,
      fields=("name", "displayName", "type", "createdAt", "createdBy", "version", "status"),
      note="the example's stacks are the v3.0 catalog's (data-s3, ml-sagemaker…), refused as "
      "VALIDATION_INVALID_TEMPLATE here; sent with v3.1 stacks"),
    R("001", "PUT /templates/:templateName", "mapped", f"PUT {API}/templates/custom-ml-platform",
      body=RETEMPLATE, setup="template", fields=("name", "version", "updatedAt", "updatedBy",
                                                  "changes"),
      note="v3.1 stacks in place of the v3.0 ones; the version is the file's, not bumped"),
    R("001", "DELETE /templates/:templateName", "documented",
      f"DELETE {API}/templates/custom-ml-platform", setup="template",
      fields=("name", "deletedAt", "deletedBy"), top=("message",)),
    R("001", "POST /templates/:templateName/validate", "documented",
      f"POST {API}/templates/custom-ml-platform/validate", setup="template",
      fields=("templateName", "valid", "checks[].name", "checks[].status", "checks[].message",
              "warnings", "errors")),
    # state
    R("001", "GET /deployments/:deploymentId/state/export", "documented",
      f"GET {D}/state/export", query={"environment": "dev", "stack": "network"}, phase=0,
      fields=("deploymentId", "environment", "stack", "exportedAt", "state.deployment")),
    R("001", "POST /deployments/:deploymentId/state/import", "mapped", f"POST {D}/state/import",
      setup="exported", body={"environment": "dev", "stack": "network", "state": "{state}",
                              "force": False},
      top=("message",),
      fields=("deploymentId", "environment", "stack", "importedAt", "importedBy"),
      note="the example's state is a placeholder ({}); sent: the stack's own export"),
    R("001", "POST /deployments/:deploymentId/state/sync", "documented", f"POST {D}/state/sync",
      body={"environment": "dev"}, top=("message",),
      fields=("deploymentId", "environment", "syncedAt", "stacksSynced", "conflicts")),
    # monitoring
    R("001", "GET /deployments/:deploymentId/logs", "documented", f"GET {D}/logs", phase=0,
      query={"environment": "dev", "stack": "network", "level": "info", "limit": "100",
             "since": "1h"},
      fields=("deploymentId", "environment", "logs[].timestamp", "logs[].level", "logs[].stack",
              "logs[].operation", "logs[].message", "logs[].metadata", "total", "returned")),
    R("001", "GET /deployments/:deploymentId/metrics", "documented", f"GET {D}/metrics",
      query={"environment": "dev", "period": "24h"}, phase=0,
      fields=("deploymentId", "environment", "period", "metrics.deployments.total",
              "metrics.deployments.successful", "metrics.deployments.failed",
              "metrics.deployments.averageDuration", "metrics.resources.total",
              "metrics.resources.created", "metrics.resources.updated",
              "metrics.resources.deleted", "metrics.resources.failed",
              "metrics.costs.estimatedMonthly", "metrics.costs.trend",
              "metrics.stacks[].name", "metrics.stacks[].deployments",
              "metrics.stacks[].averageDuration", "metrics.stacks[].successRate")),
    R("001", "GET /health", "documented", f"GET {API}/health", auth="none", phase=0,
      fields=("status", "version", "timestamp", "services.api", "services.database",
              "services.pulumi", "services.aws")),
    R("001", "GET /health (installation check)", "documented", "GET /health", auth="none",
      phase=0, fields=("status", "version", "timestamp")),
    R("001", "GET /api/v1/info", "documented", f"GET {API}/info", auth="none", phase=0,
      fields=("apiVersion", "platformVersion", "endpoints", "authentication")),
    R("001", "GET /audit-logs", "documented", f"GET {API}/audit-logs", phase=0,
      fields=("entries", "pagination.total")),
    R("001", "GET /api/v1/openapi.json", "documented", f"GET {API}/openapi.json", auth="none",
      envelope=False, phase=0, fields=("openapi", "info.title", "paths", "components")),
    R("001", "GET /api/v1/openapi.yaml", "documented", f"GET {API}/openapi.yaml", auth="none",
      phase=0, special="yaml"),
    R("001", "GET /docs", "documented", "GET /docs", auth="none", phase=0, special="html"),
    R("001", "WS /ws (authenticate, subscribe, 7 message types)", "documented", "WS /ws",
      phase=0, special="websocket"),
]  # fmt: skip

# --- seeds/000: the v3.1 quick reference lists paths only; its rows use seeds/001's requests
QUICK_REFERENCE = [
    ("POST /auth/login", "POST /auth/login"), ("POST /auth/logout", "POST /auth/logout"),
    ("POST /auth/refresh", "POST /auth/refresh"), ("POST /auth/api-keys", "POST /auth/api-keys"),
    ("GET /auth/api-keys", "GET /auth/api-keys"),
    ("DELETE /auth/api-keys/:keyId", "DELETE /auth/api-keys/:keyId"),
    ("POST /deployments", "POST /deployments"), ("GET /deployments", "GET /deployments"),
    ("GET /deployments/:deploymentId", "GET /deployments/:deploymentId"),
    ("PUT /deployments/:deploymentId", "PUT /deployments/:deploymentId"),
    ("DELETE /deployments/:deploymentId", "DELETE /deployments/:deploymentId"),
    ("POST /deployments/:deploymentId/deploy", "POST /deployments/:deploymentId/deploy"),
    ("POST /deployments/:deploymentId/destroy", "POST /deployments/:deploymentId/destroy"),
    ("POST /deployments/:deploymentId/validate", "POST /deployments/:deploymentId/validate"),
    ("GET /deployments/:deploymentId/operations/:operationId",
     "GET /deployments/:deploymentId/operations/:operationId"),
    ("GET /stacks", "GET /stacks"), ("GET /stacks/:stackName", "GET /stacks/:stackName"),
    ("POST /stacks", "POST /stacks"), ("PUT /stacks/:stackName", "PUT /stacks/:stackName"),
    ("DELETE /stacks/:stackName", "DELETE /stacks/:stackName"),
    ("POST /deployments/:deploymentId/stacks/:stackName/deploy",
     "POST /deployments/:deploymentId/stacks/:stackName/deploy"),
    ("POST /deployments/:deploymentId/stacks/:stackName/destroy",
     "POST /deployments/:deploymentId/stacks/:stackName/destroy"),
    ("GET /deployments/:deploymentId/stacks/:stackName/status",
     "GET /deployments/:deploymentId/stacks/:stackName/status"),
    ("GET /deployments/:deploymentId/environments", "GET /deployments/:deploymentId/environments"),
    ("POST /deployments/:deploymentId/environments/:environmentName/enable",
     "POST /deployments/:deploymentId/environments/:environmentName/enable"),
    ("POST /deployments/:deploymentId/environments/:environmentName/disable",
     "POST /deployments/:deploymentId/environments/:environmentName/disable"),
    ("GET /templates", "GET /templates"), ("GET /templates/:templateName",
                                           "GET /templates/:templateName"),
    ("POST /templates", "POST /templates"), ("PUT /templates/:templateName",
                                             "PUT /templates/:templateName"),
    ("DELETE /templates/:templateName", "DELETE /templates/:templateName"),
    ("POST /templates/:templateName/validate", "POST /templates/:templateName/validate"),
    ("GET /deployments/:deploymentId/state/export", "GET /deployments/:deploymentId/state/export"),
    ("POST /deployments/:deploymentId/state/import",
     "POST /deployments/:deploymentId/state/import"),
    ("POST /deployments/:deploymentId/state/sync", "POST /deployments/:deploymentId/state/sync"),
    ("GET /deployments/:deploymentId/logs", "GET /deployments/:deploymentId/logs"),
    ("GET /deployments/:deploymentId/metrics", "GET /deployments/:deploymentId/metrics"),
    ("GET /health", "GET /health"),
]  # fmt: skip
_BY_ENDPOINT = {row.endpoint: row for row in ROWS_001}
ROWS_000: list[Row] = [
    Row("000", endpoint, _BY_ENDPOINT[same].kind, _BY_ENDPOINT[same].served, special="same",
        note=f"seeds/001's row {same!r} sends the request", phase=0)
    for endpoint, same in QUICK_REFERENCE
] + [
    Row("000", f"WS channel {channel}", "documented", "WS /ws", special="channel", phase=0,
        extra={"channel": channel})
    for channel in (
        "deployments/:deploymentId/operations/:operationId",
        "deployments/:deploymentId",
        "deployments/:deploymentId/stacks/:stackName",
        "deployments/:deploymentId/environments/:environmentName",
    )
]  # fmt: skip

# --- seeds/002 (Python API of "Session 4"): snake_case where v3.1 says camelCase -----------
CAMEL = "v3.1's camelCase names (seeds/002 writes snake_case)"
ROWS_002: list[Row] = [
    R("002", "POST /api/v1/deployments/init", "mapped", f"POST {API}/deployments/init",
      body=INIT_002, status=201, fields=("deploymentId", "manifestPath", "status", "createdAt"),
      note=CAMEL),
    R("002", "POST /api/v1/deployments/{deployment_id}/deploy", "mapped", f"POST {D}/deploy",
      query={"environment": "dev", "dry_run": "true"}, status=202, phase=2,
      fields=("deploymentId", "status", "stacksToDeploy[].layer", "startedAt"),
      note=f"202, as seeds/001 answers a start; layers as stacksToDeploy[].layer; {CAMEL}"),
    R("002", "GET /api/v1/deployments/{deployment_id}/status", "mapped", f"GET {D}", phase=0,
      fields=("deploymentId", "status", "stacks[].status", "stacks[].outputs", "updatedAt"),
      note="served by GET /deployments/{id} (seeds/001), which has the stacks' statuses"),
    R("002", "GET /api/v1/deployments", "mapped", f"GET {API}/deployments", phase=0,
      query={"limit": "50", "offset": "0"},
      fields=("deployments[].deploymentId", "deployments[].organization",
              "deployments[].project", "deployments[].status", "deployments[].createdAt",
              "deployments[].updatedAt", "pagination.total", "pagination.limit",
              "pagination.offset"), note=CAMEL),
    R("002", "GET /api/v1/deployments/{deployment_id}/manifest", "mapped", f"GET {D}/manifest",
      phase=0, fields=("manifest.version", "manifest.deploymentId", "manifest.organization",
                       "manifest.environments", "manifest.stacks", "deploymentId", "path"),
      note=f"the manifest under data.manifest, beside its path and revision; {CAMEL}"),
    R("002", "PUT /api/v1/deployments/{deployment_id}/manifest", "mapped", f"PUT {D}/manifest",
      setup="manifest", body="{manifest}", fields=("deploymentId", "path", "updatedAt"),
      note=f"manifest_path is data.path; {CAMEL}"),
    R("002", "DELETE /api/v1/deployments/{deployment_id}", "mapped", f"POST {D}/destroy",
      body={"environment": "stage"}, status=202, phase=3, fields=("deploymentId", "status",
                                                                   "startedAt"),
      extra={"refused": ("DELETE", f"{D}", {"environment": "dev"})},
      note="destroying is POST /deployments/{id}/destroy (seeds/001): DELETE …?environment= "
      "answers 400 pointing there, as DELETE /deployments/{id} deletes the manifest"),
    R("002", "GET /api/v1/deployments/{deployment_id}/outputs", "mapped", f"GET {D}/outputs",
      query={"environment": "dev"}, phase=0,
      fields=("deploymentId", "environment", "outputs.network.vpcId"), note=CAMEL),
    R("002", "POST /api/v1/stacks/{stack_name}/deploy", "mapped",
      f"POST {API}/stacks/network/deploy", query=SCOPE | {"dry_run": "true"}, status=202,
      phase=2, fields=("stackName", "deploymentId", "environment", "status", "startedAt"),
      note=f"202, as seeds/001 answers a start; {CAMEL}"),
    R("002", "GET /api/v1/stacks/{stack_name}/status", "mapped",
      f"GET {API}/stacks/network/status", query=SCOPE, phase=0,
      fields=("stackName", "deploymentId", "environment", "status", "resourceCount", "outputs",
              "lastDeployedAt"), note=f"resources is the list, resourceCount the number; {CAMEL}"),
    R("002", "GET /api/v1/stacks/{stack_name}/outputs", "mapped",
      f"GET {API}/stacks/network/outputs", query=SCOPE, phase=0,
      fields=("deploymentId", "environment", "outputs.network.vpcId"),
      note=f"outputs by stack, as GET /deployments/{{id}}/outputs; {CAMEL}"),
    R("002", "DELETE /api/v1/stacks/{stack_name}", "mapped",
      f"POST {D}/stacks/services-api/destroy", body={"environment": "dev"}, status=202,
      phase=3, fields=("stackName", "deploymentId", "environment", "status", "startedAt"),
      extra={"refused": ("DELETE", f"{API}/stacks/services-api", SCOPE)},
      note="DELETE /stacks/{name} unregisters the type (seeds/001): with ?deployment_id= it "
      "answers 400 pointing at POST /deployments/{id}/stacks/{name}/destroy"),
    R("002", "POST /api/v1/stacks/{stack_name}/refresh", "mapped",
      f"POST {API}/stacks/network/refresh", query=SCOPE, phase=2,
      fields=("stackName", "deploymentId", "environment", "status", "changesDetected",
              "refreshedAt"),
      note=f"also POST /deployments/{{id}}/stacks/{{name}}/refresh, with previewOnly; {CAMEL}"),
    R("002", "GET /api/v1/stacks/{stack_name}/resources", "mapped",
      f"GET {API}/stacks/network/resources", query=SCOPE, phase=0,
      fields=("stackName", "deploymentId", "environment", "resources[].type",
              "resources[].name", "resources[].urn", "resources[].status", "resourceCount"),
      note=f"total is resourceCount; {CAMEL}"),
    R("002", "GET /api/v1/stacks/{stack_name}/export", "mapped",
      f"GET {API}/stacks/network/export", query=SCOPE, phase=0,
      fields=("stack", "deploymentId", "environment", "state", "exportedAt"),
      note=f"stack_name is stack; {CAMEL}"),
    R("002", "GET /api/v1/templates", "mapped", f"GET {API}/templates", phase=0,
      fields=("templates[].name", "templates[].description", "templates[].version",
              "templates[].stacks", "total"),
      note="stacks is the list of names (seeds/001), not their count"),
    R("002", "GET /api/v1/templates/{template_name}", "mapped", f"GET {API}/templates/default",
      phase=0, fields=("name", "description", "version", "stacks[].name"),
      note="stacks as seeds/001's objects; the manifest's parameters are POST /deployments' "
      "fields (see /api/v1/openapi.json)"),
    R("002", "POST /api/v1/templates/{template_name}/generate", "mapped",
      f"POST {API}/templates/default/generate", body=GENERATE_002,
      fields=("manifest.version", "manifest.deploymentId", "manifest.organization",
              "manifest.project", "manifest.environments", "manifest.stacks"), note=CAMEL),
    R("002", "POST /api/v1/templates/{template_name}/validate", "mapped",
      f"POST {API}/templates/default/validate", phase=0,
      fields=("templateName", "valid", "errors", "warnings"), note=CAMEL),
    R("002", "POST /api/v1/validate/manifest", "documented", f"POST {API}/validate/manifest",
      setup="manifest", body="{manifest}", phase=0, fields=("valid", "errors", "warnings")),
    R("002", "POST /api/v1/validate/dependencies", "mapped", f"POST {API}/validate/dependencies",
      body={"deployment_id": "D1BRV40",
            "stacks": {"network": {}, "database-rds": {"dependencies": ["network", "security"]}}},
      phase=0, fields=("valid", "errors", "warnings", "dependencyGraph.nodes",
                       "dependencyGraph.edges[].from", "dependencyGraph.edges[].to"),
      note=CAMEL),
    R("002", "POST /api/v1/validate/aws", "mapped", f"POST {API}/validate/aws", phase=0,
      body={"region": "us-east-1", "account_id": "111111111111",
            "checks": ["credentials", "permissions", "quotas"]},
      fields=("valid", "errors", "checks.credentials.status", "checks.permissions.status",
              "checks.quotas.status"),
      note="each check has a status (passed, failed, skipped: skipped with the simulated "
      "engine) rather than a bare valid; valid is null while any was skipped"),
    R("002", "GET /api/v1/monitoring/deployments/{deployment_id}/logs", "mapped",
      f"GET {API}/monitoring/deployments/{{deployment}}/logs", phase=0,
      query={"environment": "dev", "stack_name": "network", "level": "info", "limit": "100"},
      fields=("deploymentId", "logs[].timestamp", "logs[].level", "logs[].stack",
              "logs[].environment", "logs[].message", "total"), note=CAMEL),
    R("002", "GET /api/v1/monitoring/metrics", "mapped", f"GET {API}/monitoring/metrics",
      query={"period": "1h"}, phase=0,
      fields=("period", "metrics.deploymentsStarted", "metrics.deploymentsCompleted",
              "metrics.deploymentsFailed", "metrics.stacksDeployed",
              "metrics.averageDeploymentTimeSeconds", "metrics.apiRequests",
              "metrics.apiErrors", "timestamp"), note=CAMEL),
    R("002", "GET / (main.py root)", "mapped", f"GET {API}/info", auth="none", phase=0,
      fields=("apiVersion", "platformVersion", "documentation"),
      note="the API's name and version are GET /api/v1/info (seeds/001)"),
    R("002", "GET /health (main.py)", "documented", "GET /health", auth="none", phase=0,
      fields=("status", "version")),
]  # fmt: skip

# --- seeds/003 (another deployer's auth fix: Cloudflare, a GitHub App) ----------------------
ON_D = "under /deployments/{id} (seeds/001's place for what acts on one deployment)"
ROWS_003: list[Row] = [
    R("003", "POST /deploy/validate", "mapped", f"POST {D}/deploy/validate",
      body={"environment": "dev"}, phase=0,
      fields=("valid", "permissions", "accountInfo.id", "checks[].status"),
      note=f"{ON_D}; credentials are never sent (the service checks the ones it deploys "
      "with); the document's environments are staging/production"),
    R("003", "POST /deploy/prepare", "mapped", f"POST {D}/deploy/prepare",
      body={"environment": "dev"}, phase=0,
      fields=("prepared", "deploymentId", "checks.resources", "checks.quotas",
              "checks.dependencies", "estimatedCost.monthly", "estimatedCost.currency"),
      note=f"{ON_D}; config is the deployment's manifest, not sent"),
    R("003", "POST /deploy", "mapped", f"POST {D}/deploy", status=202, phase=2,
      body={"deploymentId": "D1BRV40", "environment": "dev",
            "options": {"dryRun": False, "rollbackOnFailure": True, "maxRetries": 3}},
      fields=("deploymentId", "status", "stacksToDeploy", "rollbackInfo.available",
              "rollbackInfo.previousVersion"),
      note=f"{ON_D}; steps are stacksToDeploy; the document's environments are "
      "staging/production"),
    R("003", "POST /auth/github-app/token", "missing", f"POST {API}/auth/github-app/token",
      note="the service holds no GitHub App key: jobs use their workflow's GITHUB_TOKEN, the "
      "service CLOUD_GITHUB_TOKEN"),
    R("003", "POST /auth/cloudflare/verify", "missing", f"POST {API}/auth/cloudflare/verify",
      note="no Cloudflare here; AWS credentials are checked by POST /validate/aws and "
      "POST /deployments/{id}/deploy/validate"),
    R("003", "GET /deploy/{deploymentId}/status", "mapped", f"GET {D}/operations/{{operation}}",
      phase=0, fields=("status", "progress.percentage", "progress.completedStacks",
                       "currentStacks", "completedStacks[].name", "completedStacks[].duration"),
      note="a deploy's status is its operation's (seeds/001)"),
    R("003", "GET /deploy/{deploymentId}/logs", "mapped", f"GET {D}/logs", phase=0, special="sse",
      note="Server-Sent Events with Accept: text/event-stream on the logs of seeds/001"),
    R("003", "GET /health/deployment", "documented", f"GET {API}/health/deployment", phase=0,
      fields=("healthy", "services.github.status", "services.github.lastCheck",
              "services.pulumi.status", "services.store.responseTime", "activeDeployments",
              "queuedDeployments")),
    R("003", "POST /deploy/{deploymentId}/rollback", "mapped", f"POST {D}/rollback", status=202,
      phase=2, setup="two_deploys", body={"environment": "dev", "reason": "contract test"},
      fields=("operationId", "status", "estimatedDuration", "rollbackOf"),
      note=f"{ON_D}; targetVersion is targetOperationId (a deploy to return to); rollbackId "
      "is the new operation's id"),
    R("003", "POST /deploy/{deploymentId}/retry", "mapped",
      f"POST {API}/operations/{{failed}}/retry", status=202, phase=2, setup="failed",
      body={"stepName": "dns", "maxRetries": 3},
      fields=("operationId", "status", "retryOf", "stacksToDeploy[].name"),
      note="a retry is of an operation (POST /operations/{id}/retry); retryId is its id"),
]  # fmt: skip

# --- seeds/004 (fastDeploy: services with deploy scripts, steps reported by runners) -------
ROWS_004: list[Row] = [
    R("004", "POST /token", "documented", f"POST {API}/token", auth="none", envelope=False,
      form="username=user%40example.com&password=SecurePassword123%21",
      fields=("access_token", "token_type")),
    R("004", "POST /service-token", "documented", f"POST {API}/service-token", envelope=False,
      body={"service": "D1BRV40", "origin": "github", "expiration_in_days": 30},
      fields=("service_token", "token_type"),
      note="a service is a deployment: the token acts on that one only"),
    R("004", "GET /users/me", "mapped", f"GET {API}/users/me", phase=0, fields=("id", "name"),
      note="in seeds/001's envelope"),
    R("004", "GET /services/", "mapped", f"GET {API}/stacks", phase=0,
      fields=("stacks[].name", "stacks[].description"),
      note="a deployable unit with steps is a stack type of the catalog"),
    R("004", "GET /services/names/", "mapped", f"GET {API}/stacks", phase=0,
      fields=("stacks[].name",), note="the names are the catalog's stacks"),
    R("004", "POST /services/sync", "missing", f"POST {API}/services/sync",
      note="nothing to sync: the catalog is read from Git at every revision"),
    R("004", "DELETE /services/{service_id}", "mapped", f"DELETE {API}/stacks/custom-monitoring",
      setup="registered", fields=("name", "unregisteredAt"), top=("message",),
      note="unregistering a stack type"),
    R("004", "POST /deployments/", "mapped", f"POST {D}/deploy", status=202, phase=2,
      auth="service", body={"environment": "dev", "stackFilter": ["network"],
                            "env": {"RELEASE": "1.2.3"}},
      fields=("operationId", "startedAt", "statusUrl"),
      note="a deployment of 004 is an operation (seeds/001 deploy) of the token's deployment; "
      "env is passed to the run"),
    R("004", "GET /deployments/", "mapped", f"GET {API}/deployments/", phase=0,
      fields=("deployments[].deploymentId",),
      note="the trailing slash is served; 004's deployments are operations: each "
      "deployment's latest are in its status"),
    R("004", "GET /deployments/{deployment_id}", "mapped", f"GET {D}/operations/{{operation}}",
      phase=0, fields=("operationId", "startedAt", "completedAt", "completedStacks[].name",
                       "completedStacks[].status"),
      note="steps are the operation's stacks"),
    R("004", "PUT /deployments/finish/", "missing", f"PUT {API}/deployments/finish",
      note="an operation ends when its run does: the executor, or GitHub's webhooks and the "
      "reconciler, say so; a runner reports steps only"),
    R("004", "POST /steps/", "mapped", f"POST {API}/operations/{{running}}/events",
      status=202, auth="runner", setup="running",
      body={"events": [{"type": "stack.started", "stackName": "network", "message": "step1"}]},
      fields=("operationId", "accepted"),
      note="a runner reports its operation's steps with the operation's own token"),
    R("004", "GET /steps/", "mapped", f"GET {D}/operations/{{operation}}", phase=0,
      fields=("completedStacks[].name", "completedStacks[].status",
              "completedStacks[].startedAt", "completedStacks[].completedAt"),
      note="an operation's steps are its stacks"),
    R("004", "GET /deployed-services/", "mapped", f"GET {D}/outputs", query={"environment": "dev"},
      phase=0, fields=("outputs.network.vpcId",),
      note="what deployed stacks export, for service discovery"),
    R("004", "WS /deployments/ws/{client_id}", "documented",
      "WS /api/v1/deployments/ws/contract-client", phase=0, special="websocket-004"),
]  # fmt: skip

ROWS: list[Row] = [*ROWS_000, *ROWS_001, *ROWS_002, *ROWS_003, *ROWS_004]


def counts() -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {}
    for row in ROWS:
        table.setdefault(row.doc, Counter())[row.kind] += 1
    return table


def main() -> None:  # pragma: no cover - a report for people
    total: Counter[str] = Counter()
    print(f"{'document':10} {'documented':>10} {'mapped':>7} {'missing':>8} {'rows':>5}")
    for doc, found in sorted(counts().items()):
        total += found
        print(f"seeds/{doc:4} {found['documented']:10} {found['mapped']:7} "
              f"{found['missing']:8} {sum(found.values()):5}")  # fmt: skip
    print(f"{'all':10} {total['documented']:10} {total['mapped']:7} {total['missing']:8} "
          f"{sum(total.values()):5}")  # fmt: skip
    for row in ROWS:
        if row.kind == "missing":
            print(f"missing: seeds/{row.doc} {row.endpoint}: {row.note}")


if __name__ == "__main__":  # pragma: no cover
    main()
