"""The store's schema, as numbered migrations applied once each, in order.

A migration is never edited after it ships: a change is a new, higher-numbered entry.
`PRAGMA user_version` records the last one applied, inside the same transaction as the
migration itself, so two processes starting at once cannot apply one twice.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "users, sessions, refresh tokens, API keys, audit log",
        """
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            email TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            roles TEXT NOT NULL DEFAULT '[]',
            organizations TEXT NOT NULL DEFAULT '[]',
            tier TEXT NOT NULL DEFAULT 'standard',
            password_hash TEXT,
            source TEXT NOT NULL DEFAULT 'local',
            disabled INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE sessions (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE refresh_tokens (
            id TEXT PRIMARY KEY,
            session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            token_hash TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            replaced_by TEXT
        );
        CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);
        CREATE TABLE api_keys (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            lookup TEXT NOT NULL UNIQUE,
            key_hash TEXT NOT NULL,
            name TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            permissions TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        );
        CREATE INDEX api_keys_user ON api_keys(user_id);
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at TEXT NOT NULL,
            request_id TEXT NOT NULL,
            actor TEXT NOT NULL,
            actor_type TEXT NOT NULL,
            action TEXT NOT NULL,
            status INTEGER NOT NULL,
            client TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_log_actor ON audit_log(actor, id);
        """,
    ),
    Migration(
        2,
        "operations and their events (deploy/destroy runs)",
        """
        CREATE TABLE operations (
            id TEXT PRIMARY KEY,
            deployment_id TEXT NOT NULL,
            environment TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            started_at TEXT,
            completed_at TEXT,
            created_by TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX operations_target ON operations(deployment_id, environment, created_at);
        CREATE INDEX operations_status ON operations(status);
        CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            operation_id TEXT NOT NULL REFERENCES operations(id) ON DELETE CASCADE,
            deployment_id TEXT NOT NULL,
            environment TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT,
            at TEXT NOT NULL,
            payload TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_operation ON events(operation_id, id);
        CREATE INDEX events_deployment ON events(deployment_id, id);
        """,
    ),
    Migration(
        3,
        "operation locks (one running operation per deployment environment), webhook deliveries",
        """
        CREATE TABLE operation_locks (
            deployment_id TEXT NOT NULL,
            environment TEXT NOT NULL,
            operation_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            acquired_at TEXT NOT NULL,
            lease_expires_at TEXT NOT NULL,
            PRIMARY KEY (deployment_id, environment)
        );
        CREATE TABLE webhook_deliveries (
            delivery_id TEXT PRIMARY KEY,
            event TEXT NOT NULL,
            received_at TEXT NOT NULL
        );
        CREATE INDEX webhook_deliveries_received ON webhook_deliveries(received_at);
        """,
    ),
    Migration(
        4,
        "the key an API key was made with (revoking a key revokes the keys it made)",
        """
        ALTER TABLE api_keys ADD COLUMN parent_key_id TEXT
            REFERENCES api_keys(id) ON DELETE SET NULL;
        CREATE INDEX api_keys_parent ON api_keys(parent_key_id);
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
