"""Fixtures for the service: an app over fakes (or a real checkout), users and credentials."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x warns, once at import, that its TestClient runs on httpx rather than
    # `httpx2`; the client works, and the suite turns warnings into errors.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from controller.adapters.catalog_sources import CatalogSource
from controller.adapters.inventory import EngineInventory
from controller.adapters.local_repo import LocalRepo
from controller.core import rbac
from controller.engines.simulated import SimulatedEngine
from controller.service.app import create_app
from controller.service.auth.tokens import hash_password, new_id
from controller.service.services import Services, build_services
from controller.service.settings import Settings
from controller.store import open_store
from controller.store.base import SessionRecord, UserRecord
from tests.conftest import REPO_ROOT
from tests.service.fakes import FakeInventory, MemorySource

SECRET = "test-secret-" + "x" * 40
ORGS = ("CompanyA", "CompanyB")
FAST_HASH = hash_password("correct horse battery", n=2**4)
PASSWORD = "correct horse battery"
HIGH = {"minute": 1_000_000, "hour": None, "day": None}
# a new deployment as POST /deployments takes it, and where it lands in the repo
D1_FILE = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"
NEW = {
    "organization": "CompanyA",
    "project": "shop",
    "template": "minimal",
    "deploymentId": "D0SHOP1",
    "accounts": {"dev": "111111111111"},
}
NEW_FILE = "deployments/D0SHOP1-CompanyA-shop/manifest.yaml"


@cache
def example_files() -> dict[str, str]:
    return LocalRepo(REPO_ROOT).catalog_files()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "repo_root": REPO_ROOT,
        "data_dir": tmp_path / ".cloud",
        "database": ":memory:",
        "jwt_secret": SECRET,
        "engine": "simulate",
        "access_log": False,
        "rate_limit_anonymous_per_minute": 1_000_000,
        "rate_limit_auth_per_minute": 1_000_000,
        "rate_limit_tiers": {"free": HIGH, "standard": HIGH, "enterprise": HIGH},
        "repo_refresh_seconds": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Harness:
    client: TestClient
    services: Services
    source: Any
    inventory: Any

    @property
    def store(self) -> Any:
        return self.services.store

    def sql(self, statement: str) -> None:
        """Change the store behind the service's back, as another process would."""
        store = self.store
        with store._lock:
            store._db.execute(statement)
            store._forget()

    def user(
        self,
        username: str,
        roles: tuple[str, ...] = (rbac.ADMINISTRATOR,),
        orgs: tuple[str, ...] = ORGS,
        *,
        tier: str = "standard",
        disabled: bool = False,
    ) -> UserRecord:
        existing = self.store.get_user_by_username(username)
        if existing is not None:
            return existing
        now = self.services.now()
        return self.store.create_user(
            UserRecord(
                id=new_id("usr"),
                username=username,
                email=f"{username}@example.com",
                name=username.title(),
                roles=roles,
                organizations=orgs,
                tier=tier,
                password_hash=FAST_HASH,
                source="local",
                disabled=disabled,
                created_at=now,
                updated_at=now,
            )
        )

    def bearer(
        self,
        username: str = "admin",
        roles: tuple[str, ...] = (rbac.ADMINISTRATOR,),
        orgs: tuple[str, ...] = ORGS,
        **options: Any,
    ) -> dict[str, str]:
        """Authorization headers of a fresh session for `username` (created if needed)."""
        user = self.user(username, roles, orgs, **options)
        session = self.store.create_session(
            SessionRecord(new_id("ses"), user.id, self.services.now(), None)
        )
        token = self.services.tokens.issue(
            user_id=user.id, session_id=session.id, username=user.username
        )
        return {"Authorization": f"Bearer {token}"}

    def api_key(self, permissions: list[str], *, username: str = "admin", **user: Any) -> str:
        headers = self.bearer(username, **user)
        response = self.client.post(
            "/api/v1/auth/api-keys",
            json={"name": "test key", "permissions": permissions},
            headers=headers,
        )
        assert response.status_code == 201, response.text
        return response.json()["data"]["apiKey"]


HarnessFactory = Callable[..., Harness]


@pytest.fixture
def make_harness(tmp_path: Path) -> Iterator[HarnessFactory]:
    clients: list[TestClient] = []

    def factory(
        *,
        source: CatalogSource | None = None,
        inventory: Any = None,
        files: dict[str, str] | None = None,
        raise_server_exceptions: bool = True,
        engine: Any = None,
        services_options: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> Harness:
        services_options = services_options or {}
        settings = make_settings(tmp_path, **overrides)
        source = source if source is not None else MemorySource(files or example_files())
        if engine is None:  # never the repo's own .cloud/: each test its own state
            simulated = SimulatedEngine(state_dir=tmp_path / "sim-state")
            engine = lambda: simulated  # noqa: E731
        if inventory == "engine":  # what is deployed, asked of the engine the service runs
            inventory = EngineInventory(
                settings.engine, repo_root=settings.resolved_root(), env={}, engine=engine
            )
        inventory = inventory if inventory is not None else FakeInventory()
        services = build_services(
            settings, source=source, inventory=inventory, engine=engine, **services_options
        )
        client = TestClient(
            create_app(services=services), raise_server_exceptions=raise_server_exceptions
        )
        client.__enter__()
        clients.append(client)
        return Harness(client, services, source, inventory)

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def harness(make_harness: HarnessFactory) -> Harness:
    return make_harness()


@pytest.fixture
def admin(harness: Harness) -> dict[str, str]:
    return harness.bearer()


# --- the store suite runs on both backends ----------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store under test lives: a fresh SQLite file, or a fresh PostgreSQL database
    on the test server (scripts/postgres.py; see tests/conftest.py)."""
    if request.param == "sqlite":
        return str(tmp_path / "data" / "cloud.db")
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(store_target: str) -> Iterator[Any]:
    opened = open_store(store_target)
    yield opened
    opened.close()
