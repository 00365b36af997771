"""The store's schema, as numbered migrations applied once each, in order.

A migration is never edited after it ships: a change is a new, higher-numbered entry.
Each one is written for both backends, the same tables and columns in each database's
own dialect (`sql` for SQLite, `postgres` for PostgreSQL; a test compares the two
schemas). SQLite records the last one applied in `PRAGMA user_version`, PostgreSQL in
`schema_migrations`, each inside the same transaction as the migration itself, so two
processes starting at once cannot apply one twice.

PostgreSQL's migrations also install the triggers that announce changes (`NOTIFY`):
`cloud_events` with the id of each new event, `cloud_changes` with `auth` when users,
sessions or API keys change and `operations` when an operation does, so every replica's
hub and caches hear what any writer did.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str  # SQLite
    postgres: str


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
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
        CREATE FUNCTION cloud_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('cloud_changes', 'auth'); RETURN NULL; END $$;
        CREATE TRIGGER users_changed AFTER INSERT OR UPDATE OR DELETE ON users
            FOR EACH STATEMENT EXECUTE FUNCTION cloud_auth_changed();
        CREATE TRIGGER sessions_changed AFTER INSERT OR UPDATE OR DELETE ON sessions
            FOR EACH STATEMENT EXECUTE FUNCTION cloud_auth_changed();
        CREATE TRIGGER api_keys_changed
            AFTER INSERT OR DELETE OR UPDATE OF user_id, lookup, key_hash, permissions,
            expires_at, revoked_at ON api_keys
            FOR EACH STATEMENT EXECUTE FUNCTION cloud_auth_changed();
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
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
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
        CREATE FUNCTION cloud_operations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('cloud_changes', 'operations'); RETURN NULL; END $$;
        CREATE TRIGGER operations_changed AFTER INSERT OR UPDATE OR DELETE ON operations
            FOR EACH STATEMENT EXECUTE FUNCTION cloud_operations_changed();
        CREATE FUNCTION cloud_event_added() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN PERFORM pg_notify('cloud_events', NEW.id::text); RETURN NULL; END $$;
        CREATE TRIGGER event_added AFTER INSERT ON events
            FOR EACH ROW EXECUTE FUNCTION cloud_event_added();
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
        "leases (one replica reconciles), shared rate-limit counters, WebSocket connections",
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE rate_counters (
            key TEXT NOT NULL,
            window_start INTEGER NOT NULL,
            window_seconds INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            PRIMARY KEY (key, window_seconds, window_start)
        );
        CREATE INDEX rate_counters_end ON rate_counters(window_start);
        CREATE TABLE realtime_connections (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX realtime_connections_user ON realtime_connections(user_id, seen_at);
        """,
        """
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE TABLE rate_counters (
            key TEXT NOT NULL,
            window_start BIGINT NOT NULL,
            window_seconds INTEGER NOT NULL,
            hits INTEGER NOT NULL,
            PRIMARY KEY (key, window_seconds, window_start)
        );
        CREATE INDEX rate_counters_end ON rate_counters(window_start);
        CREATE TABLE realtime_connections (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            owner TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE INDEX realtime_connections_user ON realtime_connections(user_id, seen_at);
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
