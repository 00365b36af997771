"""The service's collaborators, built once from the settings: the seams the routes use.

The store, the repo (local checkout or GitHub), the engine inventory, the token issuer,
the authenticator and the clock. Tests build the same object with fakes in place of any
of them (`build_services(settings, source=…, inventory=…)`), so everything above the
seams runs as in production.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from controller import __version__
from controller.adapters.catalog_sources import CatalogSource, LocalCatalogSource
from controller.adapters.inventory import EngineInventory, Inventory
from controller.service.authentication import Authenticator
from controller.service.catalog_state import RepoState
from controller.service.envelope import iso_at
from controller.service.oidc import OidcVerifier
from controller.service.settings import Settings
from controller.service.tokens import AccessTokens, load_or_create_secret
from controller.store.base import Store
from controller.store.sqlite import open_store

logger = logging.getLogger("cloud.service")


class Background(Protocol):
    """A task that runs while the app runs (the event hub, the reconciler…): started by the
    lifespan after start-up, stopped before the store closes."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Services:
    settings: Settings
    store: Store
    repo: RepoState
    tokens: AccessTokens
    authenticator: Authenticator
    inventory: Inventory
    oidc: OidcVerifier | None
    clock: Callable[[], float]
    version: str = __version__
    owns_store: bool = True
    background: list[Background] = field(default_factory=list)

    def now(self) -> str:
        return iso_at(self.clock())

    @property
    def write_mode(self) -> str:
        if self.settings.repo_backend == "github":
            return "pull-request" if self.settings.write_mode == "pr" else "commit"
        local = self.repo.source
        return "commit" if getattr(local, "commit_enabled", False) else "files"


def build_services(
    settings: Settings,
    *,
    store: Store | None = None,
    source: CatalogSource | None = None,
    inventory: Inventory | None = None,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    github_client: Any = None,
) -> Services:
    root = settings.resolved_root()
    owns_store = store is None
    if store is None:
        store = open_store(settings.resolved_database())
    if source is None:
        source = _source(settings, github_client)
    if inventory is None:
        inventory = EngineInventory(settings.engine, repo_root=root, env=os.environ)
    secret = (
        settings.jwt_secret.get_secret_value().encode()
        if settings.jwt_secret is not None
        else load_or_create_secret(settings.resolved_data_dir())
    )
    tokens = AccessTokens(
        secret,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=settings.access_token_ttl,
        clock=clock,
    )
    oidc = None
    if settings.oidc_issuer and settings.oidc_audience and settings.oidc_jwks_url:
        oidc = OidcVerifier(
            issuer=settings.oidc_issuer,
            audience=settings.oidc_audience,
            jwks_url=settings.oidc_jwks_url,
            algorithms=settings.oidc_algorithms,
            groups_claim=settings.oidc_groups_claim,
            organizations_claim=settings.oidc_organizations_claim,
            role_map=settings.oidc_role_map,
            monotonic=monotonic,
            clock=clock,
        )
    return Services(
        settings=settings,
        store=store,
        repo=RepoState(source, refresh_seconds=settings.repo_refresh_seconds, monotonic=monotonic),
        tokens=tokens,
        authenticator=Authenticator(
            store=store, tokens=tokens, oidc=oidc, clock=clock, monotonic=monotonic
        ),
        inventory=inventory,
        oidc=oidc,
        clock=clock,
        owns_store=owns_store,
    )


def _source(settings: Settings, github_client: Any) -> CatalogSource:
    if settings.repo_backend == "github":
        from controller.adapters.github_repo import GitHubCatalogSource, connect

        client = github_client
        if client is None:
            token = settings.github_token.get_secret_value() if settings.github_token else ""
            client = connect(token=token, api_url=settings.github_api_url)
        return GitHubCatalogSource(
            client,
            settings.github_repository or "",
            branch=settings.github_branch,
            pull_requests=settings.write_mode == "pr",
            poll_seconds=settings.github_poll_seconds,
        )
    return LocalCatalogSource(settings.resolved_root(), commit=settings.git_commit)
