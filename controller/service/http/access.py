"""Route -> permission: the one table that says what each endpoint requires.

Each entry is a permission of `controller.core.rbac` (the seeds' matrix), `AUTHENTICATED`
(any signed-in caller: its own profile, signing out) or `PUBLIC` (health, docs, signing
in). The router refuses to start if an endpoint is missing here or an entry names no
endpoint, and a test walks every entry with every role.
"""

from __future__ import annotations

from typing import Final

from controller.core import rbac

PUBLIC: Final = "public"
AUTHENTICATED: Final = "authenticated"

API = "/api/v1"
DEPLOYMENT = f"{API}/deployments/{{deployment_id}}"
ENVIRONMENT = f"{DEPLOYMENT}/environments/{{environment_name}}"
STACK = f"{API}/stacks/{{stack_name}}"
TEMPLATE = f"{API}/templates/{{template_name}}"
STACK_OF_DEPLOYMENT = f"{DEPLOYMENT}/stacks/{{stack_name}}"
OPERATION = f"{API}/operations/{{operation_id}}"

ROUTE_ACCESS: Final[dict[tuple[str, str], str]] = {
    # system
    ("GET", "/health"): PUBLIC,
    ("GET", f"{API}/health"): PUBLIC,
    ("GET", f"{API}/info"): PUBLIC,
    ("GET", f"{API}/openapi.json"): PUBLIC,
    ("GET", f"{API}/openapi.yaml"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/docs.css"): PUBLIC,
    # authentication
    ("POST", f"{API}/auth/login"): PUBLIC,
    ("POST", f"{API}/auth/refresh"): PUBLIC,
    ("POST", f"{API}/auth/logout"): AUTHENTICATED,
    ("POST", f"{API}/token"): PUBLIC,  # seeds/004, form-encoded
    ("POST", f"{API}/service-token"): AUTHENTICATED,  # seeds/004; scope checked by the handler
    ("POST", f"{API}/auth/api-keys"): rbac.API_KEYS_MANAGE,
    ("GET", f"{API}/auth/api-keys"): rbac.API_KEYS_MANAGE,
    ("DELETE", f"{API}/auth/api-keys/{{key_id}}"): rbac.API_KEYS_MANAGE,
    ("GET", f"{API}/users/me"): AUTHENTICATED,
    ("GET", f"{API}/audit-logs"): rbac.AUDIT_LOGS_READ,
    # deployments
    ("POST", f"{API}/deployments"): rbac.DEPLOYMENTS_CREATE,
    ("POST", f"{API}/deployments/init"): rbac.DEPLOYMENTS_CREATE,  # seeds/002's spelling
    ("GET", f"{API}/deployments"): rbac.DEPLOYMENTS_READ,
    ("GET", DEPLOYMENT): rbac.DEPLOYMENTS_READ,
    ("PUT", DEPLOYMENT): rbac.DEPLOYMENTS_UPDATE,
    ("DELETE", DEPLOYMENT): rbac.DEPLOYMENTS_DELETE,
    ("POST", f"{DEPLOYMENT}/validate"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{DEPLOYMENT}/manifest"): rbac.DEPLOYMENTS_READ,
    ("PUT", f"{DEPLOYMENT}/manifest"): rbac.DEPLOYMENTS_UPDATE,
    ("GET", f"{DEPLOYMENT}/environments"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{ENVIRONMENT}/enable"): rbac.ENVIRONMENTS_ENABLE,
    ("POST", f"{ENVIRONMENT}/disable"): rbac.ENVIRONMENTS_DISABLE,
    # operations (changing one also takes the permission starting it took: see the handler)
    ("POST", f"{DEPLOYMENT}/deploy"): rbac.DEPLOYMENTS_DEPLOY,
    ("POST", f"{DEPLOYMENT}/destroy"): rbac.DEPLOYMENTS_DESTROY,
    ("POST", f"{STACK_OF_DEPLOYMENT}/deploy"): rbac.STACKS_DEPLOY,
    ("POST", f"{STACK_OF_DEPLOYMENT}/destroy"): rbac.STACKS_DESTROY,
    ("GET", f"{DEPLOYMENT}/operations/{{operation_id}}"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{OPERATION}/cancel"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{OPERATION}/retry"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{DEPLOYMENT}/rollback"): rbac.DEPLOYMENTS_DEPLOY,
    # a CI job's reports: its operation's runner token, checked by the handler
    ("POST", f"{OPERATION}/events"): PUBLIC,
    # what is deployed (the engine's backend)
    ("GET", f"{STACK_OF_DEPLOYMENT}/status"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{STACK_OF_DEPLOYMENT}/resources"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{STACK_OF_DEPLOYMENT}/refresh"): rbac.STACKS_DEPLOY,  # it rewrites the state
    ("GET", f"{DEPLOYMENT}/outputs"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{DEPLOYMENT}/metrics"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{DEPLOYMENT}/state/export"): rbac.DEPLOYMENTS_UPDATE,
    ("POST", f"{DEPLOYMENT}/state/import"): rbac.DEPLOYMENTS_DESTROY,  # rewrites what is deployed
    ("POST", f"{DEPLOYMENT}/state/sync"): rbac.DEPLOYMENTS_DEPLOY,
    # pre-flight (seeds/002, seeds/003): reads that change nothing
    ("POST", f"{API}/validate/aws"): rbac.VALIDATION_RUN,
    ("POST", f"{DEPLOYMENT}/deploy/validate"): rbac.DEPLOYMENTS_READ,
    ("POST", f"{DEPLOYMENT}/deploy/prepare"): rbac.DEPLOYMENTS_READ,
    # monitoring
    ("GET", f"{DEPLOYMENT}/logs"): rbac.LOGS_READ,
    ("GET", f"{API}/monitoring/deployments/{{deployment_id}}/logs"): rbac.LOGS_READ,
    ("GET", f"{API}/health/deployment"): rbac.DEPLOYMENTS_READ,
    # counts over every organization: for those who read the audit log
    ("GET", f"{API}/monitoring/metrics"): rbac.AUDIT_LOGS_READ,
    # stacks
    ("GET", f"{API}/stacks"): rbac.STACKS_READ,
    ("POST", f"{API}/stacks"): rbac.STACKS_REGISTER,
    ("GET", STACK): rbac.STACKS_READ,
    ("PUT", STACK): rbac.STACKS_UPDATE,
    ("DELETE", STACK): rbac.STACKS_UNREGISTER,
    # seeds/002's stack-scoped spelling: the permission of the deployment-scoped route
    ("GET", f"{STACK}/status"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{STACK}/resources"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{STACK}/outputs"): rbac.DEPLOYMENTS_READ,
    ("GET", f"{STACK}/export"): rbac.DEPLOYMENTS_UPDATE,
    ("POST", f"{STACK}/deploy"): rbac.STACKS_DEPLOY,
    ("POST", f"{STACK}/refresh"): rbac.STACKS_DEPLOY,  # seeds/002 2.5, as the path above
    # templates
    ("GET", f"{API}/templates"): rbac.TEMPLATES_READ,
    ("POST", f"{API}/templates"): rbac.TEMPLATES_CREATE,
    ("GET", TEMPLATE): rbac.TEMPLATES_READ,
    ("PUT", TEMPLATE): rbac.TEMPLATES_UPDATE,
    ("DELETE", TEMPLATE): rbac.TEMPLATES_DELETE,
    ("POST", f"{TEMPLATE}/validate"): rbac.TEMPLATES_READ,
    ("POST", f"{TEMPLATE}/generate"): rbac.TEMPLATES_READ,
    # validation
    ("POST", f"{API}/validate/manifest"): rbac.VALIDATION_RUN,
    ("POST", f"{API}/validate/dependencies"): rbac.VALIDATION_RUN,
}

# Routes whose every call counts against the per-address sign-in budget.
SIGN_IN_PATHS: Final = frozenset({f"{API}/auth/login", f"{API}/auth/refresh", f"{API}/token"})
