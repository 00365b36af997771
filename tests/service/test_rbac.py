"""The seeds' RBAC matrix as decisions: roles to permissions, keys narrow, tenancy."""

from __future__ import annotations

import pytest

from controller.core import rbac

ALL = rbac.ROLES
A, DM, SO, EM, TE, AU, DEV = ALL

# The seeds' permission matrix (seeds/001, "Permission Matrix"), row by row: which roles
# hold the permission behind each endpoint.
SEED_MATRIX = [
    pytest.param(rbac.DEPLOYMENTS_CREATE, {A, DM}, id="POST /deployments"),
    pytest.param(rbac.DEPLOYMENTS_READ, {A, DM, SO, EM, AU, DEV}, id="GET /deployments"),
    pytest.param(rbac.DEPLOYMENTS_UPDATE, {A, DM}, id="PUT /deployments/:id"),
    pytest.param(rbac.DEPLOYMENTS_DELETE, {A, DM}, id="DELETE /deployments/:id"),
    pytest.param(rbac.DEPLOYMENTS_DEPLOY, {A, DM}, id="POST /deployments/:id/deploy"),
    pytest.param(rbac.DEPLOYMENTS_DESTROY, {A, DM}, id="POST /deployments/:id/destroy"),
    pytest.param(rbac.STACKS_DEPLOY, {A, DM, SO}, id="POST /stacks/:id/deploy"),
    pytest.param(rbac.STACKS_DESTROY, {A, DM, SO}, id="POST /stacks/:id/destroy"),
    pytest.param(rbac.ENVIRONMENTS_ENABLE, {A, DM, EM}, id="POST /environments/:id/enable"),
    pytest.param(rbac.ENVIRONMENTS_DISABLE, {A, DM, EM}, id="POST /environments/:id/disable"),
    pytest.param(rbac.TEMPLATES_CREATE, {A, TE}, id="POST /templates"),
    pytest.param(rbac.TEMPLATES_UPDATE, {A, TE}, id="PUT /templates/:id"),
    pytest.param(rbac.TEMPLATES_DELETE, {A, TE}, id="DELETE /templates/:id"),
    pytest.param(rbac.AUDIT_LOGS_READ, {A, AU}, id="GET /audit-logs"),
    pytest.param(rbac.LOGS_READ, {A, DM, SO, AU, DEV}, id="GET /*/logs"),
    # rows the seeds leave out: registering stack types is catalog editing
    pytest.param(rbac.STACKS_REGISTER, {A, TE}, id="POST /stacks"),
    pytest.param(rbac.USERS_MANAGE, {A}, id="users"),
]


@pytest.mark.parametrize(("permission", "holders"), SEED_MATRIX)
def test_each_matrix_row_is_held_by_exactly_its_roles(permission: str, holders: set[str]) -> None:
    assert {role for role in ALL if permission in rbac.role_permissions([role])} == holders


def test_every_permission_is_granted_to_the_administrator_and_named_once() -> None:
    assert rbac.role_permissions([A]) == frozenset(rbac.PERMISSIONS)
    assert len(set(rbac.PERMISSIONS)) == len(rbac.PERMISSIONS)


def test_roles_add_up() -> None:
    both = rbac.role_permissions([DEV, TE])
    assert rbac.TEMPLATES_CREATE in both and rbac.LOGS_READ in both
    assert rbac.DEPLOYMENTS_CREATE not in both


def test_unknown_roles_grant_nothing() -> None:
    assert rbac.role_permissions(["Root", "administrator"]) == frozenset()
    assert rbac.unknown_roles(["Root", A]) == ["Root"]


@pytest.mark.parametrize(
    ("roles", "scopes", "expected"),
    [
        pytest.param([A], None, set(rbac.PERMISSIONS), id="no key: all of the roles"),
        pytest.param([A], [rbac.DEPLOYMENTS_READ], {rbac.DEPLOYMENTS_READ}, id="key narrows"),
        pytest.param([DEV], [rbac.DEPLOYMENTS_CREATE], set(), id="key cannot widen"),
        pytest.param([DEV], [], set(), id="empty scope: nothing"),
    ],
)
def test_api_key_scopes_only_narrow(
    roles: list[str], scopes: list[str] | None, expected: set[str]
) -> None:
    assert rbac.effective_permissions(roles, scopes) == expected


def test_excess_scopes_are_those_not_held() -> None:
    held = rbac.role_permissions([DEV])
    assert rbac.excess_scopes([rbac.DEPLOYMENTS_READ, rbac.DEPLOYMENTS_CREATE], held) == [
        rbac.DEPLOYMENTS_CREATE
    ]


@pytest.mark.parametrize(
    ("roles", "organizations", "organization", "sees"),
    [
        pytest.param([A], [], "CompanyB", True, id="administrators see everything"),
        pytest.param([DM], ["CompanyA"], "CompanyA", True, id="own organization"),
        pytest.param([DM], ["CompanyA"], "CompanyB", False, id="another organization"),
        pytest.param([DEV], [], "CompanyA", False, id="no organization"),
    ],
)
def test_organization_isolation(
    roles: list[str], organizations: list[str], organization: str, sees: bool
) -> None:
    assert rbac.sees_organization(roles, organizations, organization) is sees


def test_groups_map_to_roles_by_name_or_slug_and_unknown_groups_are_ignored() -> None:
    mapping = rbac.default_group_map() | {"platform-admins": A}
    groups = ["platform-admins", "deployment-manager", "Developer", "staff"]
    assert rbac.roles_from_groups(groups, mapping) == [A, DM, DEV]
