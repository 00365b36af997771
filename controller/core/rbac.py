"""Who may do what: the seven roles of the API seeds and their permission matrix.

The seeds (`seeds/001…`, "Authorization (RBAC)") give seven roles and a matrix of
endpoints; this module turns it into permissions named `resource:action` (the names the
seeds' API-key examples use: `deployments:read`, `stacks:deploy`, `logs:read`). Every
decision the service makes about access is one of these functions: the permissions of a
set of roles, the narrowing an API key's scopes apply (a key can never hold more than
its owner), and organization isolation (outside the Administrator role a user sees only
its own organizations' deployments). A purely computational module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

# --- roles --------------------------------------------------------------------------------

ADMINISTRATOR: Final = "Administrator"
DEPLOYMENT_MANAGER: Final = "Deployment Manager"
STACK_OPERATOR: Final = "Stack Operator"
ENVIRONMENT_MANAGER: Final = "Environment Manager"
TEMPLATE_EDITOR: Final = "Template Editor"
AUDITOR: Final = "Auditor"
DEVELOPER: Final = "Developer"

ROLES: Final = (
    ADMINISTRATOR,
    DEPLOYMENT_MANAGER,
    STACK_OPERATOR,
    ENVIRONMENT_MANAGER,
    TEMPLATE_EDITOR,
    AUDITOR,
    DEVELOPER,
)

# --- permissions --------------------------------------------------------------------------

DEPLOYMENTS_READ: Final = "deployments:read"
DEPLOYMENTS_CREATE: Final = "deployments:create"
DEPLOYMENTS_UPDATE: Final = "deployments:update"
DEPLOYMENTS_DELETE: Final = "deployments:delete"
DEPLOYMENTS_DEPLOY: Final = "deployments:deploy"
DEPLOYMENTS_DESTROY: Final = "deployments:destroy"
STACKS_READ: Final = "stacks:read"
STACKS_DEPLOY: Final = "stacks:deploy"
STACKS_DESTROY: Final = "stacks:destroy"
STACKS_REGISTER: Final = "stacks:register"
STACKS_UPDATE: Final = "stacks:update"
STACKS_UNREGISTER: Final = "stacks:unregister"
ENVIRONMENTS_ENABLE: Final = "environments:enable"
ENVIRONMENTS_DISABLE: Final = "environments:disable"
TEMPLATES_READ: Final = "templates:read"
TEMPLATES_CREATE: Final = "templates:create"
TEMPLATES_UPDATE: Final = "templates:update"
TEMPLATES_DELETE: Final = "templates:delete"
LOGS_READ: Final = "logs:read"
AUDIT_LOGS_READ: Final = "audit-logs:read"
VALIDATION_RUN: Final = "validation:run"
API_KEYS_MANAGE: Final = "api-keys:manage"
USERS_MANAGE: Final = "users:manage"
# not in the seeds: reading secret config values in clear (`showSecrets=true`); the
# Administrator role alone holds it, and a key holds it only if scoped to it
SECRETS_READ: Final = "secrets:read"

PERMISSIONS: Final = (
    DEPLOYMENTS_READ,
    DEPLOYMENTS_CREATE,
    DEPLOYMENTS_UPDATE,
    DEPLOYMENTS_DELETE,
    DEPLOYMENTS_DEPLOY,
    DEPLOYMENTS_DESTROY,
    STACKS_READ,
    STACKS_DEPLOY,
    STACKS_DESTROY,
    STACKS_REGISTER,
    STACKS_UPDATE,
    STACKS_UNREGISTER,
    ENVIRONMENTS_ENABLE,
    ENVIRONMENTS_DISABLE,
    TEMPLATES_READ,
    TEMPLATES_CREATE,
    TEMPLATES_UPDATE,
    TEMPLATES_DELETE,
    LOGS_READ,
    AUDIT_LOGS_READ,
    VALIDATION_RUN,
    API_KEYS_MANAGE,
    USERS_MANAGE,
    SECRETS_READ,
)

# What every signed-in role may do: read the catalog (the stacks and templates any
# deployment is made of), run the side-effect-free validators, manage its own API keys.
_EVERYONE = frozenset({STACKS_READ, TEMPLATES_READ, VALIDATION_RUN, API_KEYS_MANAGE})

# The seeds' matrix, row by row (✓ per role), plus the catalog rows it leaves out:
# registering stack types is catalog editing, like templates (Template Editor).
MATRIX: Final[dict[str, frozenset[str]]] = {
    ADMINISTRATOR: frozenset(PERMISSIONS),
    DEPLOYMENT_MANAGER: _EVERYONE
    | {
        DEPLOYMENTS_READ,
        DEPLOYMENTS_CREATE,
        DEPLOYMENTS_UPDATE,
        DEPLOYMENTS_DELETE,
        DEPLOYMENTS_DEPLOY,
        DEPLOYMENTS_DESTROY,
        STACKS_DEPLOY,
        STACKS_DESTROY,
        ENVIRONMENTS_ENABLE,
        ENVIRONMENTS_DISABLE,
        LOGS_READ,
    },
    STACK_OPERATOR: _EVERYONE | {DEPLOYMENTS_READ, STACKS_DEPLOY, STACKS_DESTROY, LOGS_READ},
    ENVIRONMENT_MANAGER: _EVERYONE | {DEPLOYMENTS_READ, ENVIRONMENTS_ENABLE, ENVIRONMENTS_DISABLE},
    TEMPLATE_EDITOR: _EVERYONE
    | {
        TEMPLATES_CREATE,
        TEMPLATES_UPDATE,
        TEMPLATES_DELETE,
        STACKS_REGISTER,
        STACKS_UPDATE,
        STACKS_UNREGISTER,
    },
    AUDITOR: _EVERYONE | {DEPLOYMENTS_READ, LOGS_READ, AUDIT_LOGS_READ},
    DEVELOPER: _EVERYONE | {DEPLOYMENTS_READ, LOGS_READ},
}


def unknown_roles(names: Iterable[str]) -> list[str]:
    """The names that are not one of the seven roles (in the order given)."""
    return [name for name in names if name not in MATRIX]


def unknown_permissions(names: Iterable[str]) -> list[str]:
    known = set(PERMISSIONS)
    return [name for name in names if name not in known]


def role_permissions(roles: Iterable[str]) -> frozenset[str]:
    """The union of the roles' permissions; unknown role names grant nothing."""
    granted: set[str] = set()
    for role in roles:
        granted |= MATRIX.get(role, frozenset())
    return frozenset(granted)


def effective_permissions(
    roles: Iterable[str], scopes: Iterable[str] | None = None
) -> frozenset[str]:
    """What a caller may do: its roles' permissions, narrowed by an API key's scopes.

    Scopes only ever narrow: a scope the owner's roles do not grant grants nothing, so a
    key keeps working with less when its owner loses a role, and never gains.
    """
    granted = role_permissions(roles)
    if scopes is None:
        return granted
    return granted & frozenset(scopes)


def excess_scopes(requested: Iterable[str], held: Iterable[str]) -> list[str]:
    """Requested scopes the caller does not hold itself (a new key may not widen)."""
    holding = set(held)
    return sorted({scope for scope in requested if scope not in holding})


def is_administrator(roles: Iterable[str]) -> bool:
    return ADMINISTRATOR in set(roles)


def sees_organization(
    roles: Iterable[str], organizations: Iterable[str], organization: str
) -> bool:
    """Multi-tenancy: administrators see every organization, others only their own."""
    roles = tuple(roles)
    return is_administrator(roles) or organization in set(organizations)


def roles_from_groups(groups: Iterable[str], role_map: dict[str, str]) -> list[str]:
    """An external identity provider's groups, mapped to roles (unmapped groups ignored).

    The default map accepts each role's exact name and its slug (`deployment-manager`).
    """
    roles = [role_map[group] for group in groups if group in role_map]
    return [role for role in dict.fromkeys(roles) if role in MATRIX]


def default_group_map() -> dict[str, str]:
    mapping = {role: role for role in ROLES}
    mapping |= {role.lower().replace(" ", "-"): role for role in ROLES}
    return mapping
