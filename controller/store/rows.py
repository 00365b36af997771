"""Rows and records: the SQL column lists and the conversions both ways.

Kept apart from the statements so `sqlite` reads as what the store does. Lists and
mappings (roles, organizations, permissions, payloads) are stored as JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from controller.store.base import (
    ApiKeyRecord,
    OperationRecord,
    StackStateRecord,
    StoreConflictError,
    StoreError,
    UserRecord,
)

USER_COLUMNS = (
    "id, username, email, name, roles, organizations, tier, password_hash, source, disabled, "
    "created_at, updated_at"
)
KEY_COLUMNS = (
    "id, user_id, lookup, key_hash, name, description, permissions, created_at, expires_at, "
    "last_used_at, revoked_at, parent_key_id"
)
KEY_COLUMN_COUNT = KEY_COLUMNS.count(",") + 1
OPERATION_COLUMNS = (
    "id, deployment_id, environment, type, status, created_at, updated_at, created_by, "
    "started_at, completed_at, payload"
)
INSERT_OPERATION = f"INSERT INTO operations ({OPERATION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
EVENT_COLUMNS = "operation_id, deployment_id, environment, type, at, status, payload, id"
LOCK_COLUMNS = "deployment_id, environment, operation_id, owner, acquired_at, lease_expires_at"
STACK_STATE_COLUMNS = "deployment_id, environment, stack, status, at, operation_id, details"


@contextmanager
def translated() -> Iterator[None]:
    """sqlite3's errors as the store's: a duplicate is a conflict, the rest unavailability."""
    try:
        yield
    except sqlite3.IntegrityError as error:
        raise StoreConflictError(str(error)) from None
    except sqlite3.Error as error:
        raise StoreError(f"store error: {error}") from None


def where_clause(conditions: dict[str, Any]) -> tuple[str, list[Any]]:
    used = {clause: value for clause, value in conditions.items() if value is not None}
    if not used:
        return "", []
    return " WHERE " + " AND ".join(used), list(used.values())


def user_values(user: UserRecord) -> tuple[Any, ...]:
    return (
        user.id,
        user.username,
        user.email,
        user.name,
        json.dumps(list(user.roles)),
        json.dumps(list(user.organizations)),
        user.tier,
        user.password_hash,
        user.source,
        int(user.disabled),
        user.created_at,
        user.updated_at,
    )


def user_of(row: Sequence[Any]) -> UserRecord:
    return UserRecord(
        id=row[0],
        username=row[1],
        email=row[2],
        name=row[3],
        roles=tuple(json.loads(row[4])),
        organizations=tuple(json.loads(row[5])),
        tier=row[6],
        password_hash=row[7],
        source=row[8],
        disabled=bool(row[9]),
        created_at=row[10],
        updated_at=row[11],
    )


def api_key_of(row: Sequence[Any]) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row[0],
        user_id=row[1],
        lookup=row[2],
        key_hash=row[3],
        name=row[4],
        description=row[5],
        permissions=tuple(json.loads(row[6])),
        created_at=row[7],
        expires_at=row[8],
        last_used_at=row[9],
        revoked_at=row[10],
        parent_key_id=row[11],
    )


def operation_values(operation: OperationRecord) -> tuple[Any, ...]:
    return (
        operation.id,
        operation.deployment_id,
        operation.environment,
        operation.type,
        operation.status,
        operation.created_at,
        operation.updated_at,
        operation.created_by,
        operation.started_at,
        operation.completed_at,
        json.dumps(operation.payload, default=str),
    )


def operation_of(row: Sequence[Any]) -> OperationRecord:
    return OperationRecord(
        id=row[0],
        deployment_id=row[1],
        environment=row[2],
        type=row[3],
        status=row[4],
        created_at=row[5],
        updated_at=row[6],
        created_by=row[7],
        started_at=row[8],
        completed_at=row[9],
        payload=json.loads(row[10]),
    )


def stack_state_values(state: StackStateRecord) -> tuple[Any, ...]:
    return (
        state.deployment_id,
        state.environment,
        state.stack,
        state.status,
        state.at,
        state.operation_id,
        json.dumps(state.details, default=str),
    )


def stack_state_of(row: Sequence[Any]) -> StackStateRecord:
    return StackStateRecord(*row[:6], details=json.loads(row[6]))
