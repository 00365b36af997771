"""The service's collaborators, built once from the settings: the seams the routes use.

The store, the repo (local checkout or GitHub), the engine inventory, the token issuer,
the authenticator and the clock. Tests build the same object with fakes in place of any
of them (`build_services(settings, source=…, inventory=…)`), so everything above the
seams runs as in production.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from controller import __version__
from controller.adapters.callbacks import CallbackSender, check_url
from controller.adapters.catalog_sources import CatalogSource, LocalCatalogSource
from controller.adapters.inventory import EngineInventory, Inventory
from controller.adapters.preflight import Preflight, SimulatedPreflight, preflight_for
from controller.edits.catalog_state import RepoState
from controller.engines.base import Engine
from controller.operations.callbacks import Callbacks
from controller.operations.control import Dispatcher, Operations
from controller.operations.github import GitHubIntake
from controller.operations.owners import local_owner
from controller.operations.recorder import Recorder
from controller.operations.runner_tokens import RunnerTokens
from controller.service import operation_sources
from controller.service.auth.authentication import Authenticator
from controller.service.auth.oidc import OidcVerifier
from controller.service.auth.tokens import AccessTokens, load_or_create_secret
from controller.service.endpoints.webhooks import GitHubWebhooks
from controller.service.http.envelope import iso_at
from controller.service.http.middleware import RequestCounts
from controller.service.http.rate_limits import FixedWindowLimiter, SharedCounts
from controller.service.realtime.access import ConnectionQuota
from controller.service.realtime.hub import EventHub
from controller.service.settings import Settings
from controller.store import open_store
from controller.store.base import Store

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
    hub: EventHub  # operation events, tailed from the store, to subscribers
    engine: Callable[[], Engine]  # built on first use: the service starts without Pulumi
    recorder: Recorder
    operations: Operations
    runner_tokens: RunnerTokens
    callbacks: Callbacks
    intake: GitHubIntake | None = None  # GitHub's word on runs (github dispatcher)
    webhooks: Any = None  # the /webhooks/github receiver (set once the services exist)
    version: str = __version__
    owns_store: bool = True
    background: list[Background] = field(default_factory=list)
    preflight: Preflight = field(default_factory=SimulatedPreflight)  # credentials, quotas
    requests: RequestCounts = field(default_factory=RequestCounts)  # API calls, this process
    rate_limiter: FixedWindowLimiter = field(default_factory=FixedWindowLimiter)
    connections: Any = None  # the realtime connection quota (ConnectionQuota), in the store

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
    engine: Callable[[], Engine] | None = None,
    callback_sender: CallbackSender | None = None,
    github_actions: Any = None,
    preflight: Preflight | None = None,
) -> Services:
    root = settings.resolved_root()
    owns_store = store is None
    if store is None:
        store = open_store(settings.store_target(), pool_size=settings.database_pool_size)
    if source is None:
        source = _source(settings, github_client)
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
    hub = EventHub(
        store,
        poll_seconds=settings.realtime_poll_ms / 1000,
        active_poll_seconds=settings.realtime_active_poll_ms / 1000,
    )
    repo = RepoState(source, refresh_seconds=settings.repo_refresh_seconds, monotonic=monotonic)
    engine = engine or LazyEngine(settings.engine, root)
    if inventory is None:
        inventory = EngineInventory(settings.engine, repo_root=root, env=os.environ, engine=engine)

    def now() -> str:
        return iso_at(clock())

    recorder = Recorder(store, now=now, notify=hub.notify)
    sender = callback_sender or CallbackSender(allow_hosts=frozenset(settings.callback_allow_hosts))
    callbacks = Callbacks(sender, log=recorder.log)
    finished: list[Callable[[Any], None]] = [callbacks]
    recorder.on_finished = lambda operation: _each(finished, operation)
    runner_tokens = RunnerTokens(secret, issuer=settings.jwt_issuer, clock=clock)
    background: list[Background] = [hub, callbacks]
    connections = ConnectionQuota(
        {
            "free": settings.realtime_connections_free,
            "standard": settings.realtime_connections_standard,
            "enterprise": settings.realtime_connections_enterprise,
        },
        store,
        clock=clock,
        iso=iso_at,
        owner=local_owner(),
    )
    background.append(connections)
    rate_limiter = FixedWindowLimiter()
    if settings.rate_limit_enabled:  # counts shared with the other replicas and workers
        background.append(
            SharedCounts(rate_limiter, store, every=settings.rate_limit_sync_seconds, clock=clock)
        )
    dispatcher, intake = _dispatcher(
        settings,
        store,
        recorder,
        repo,
        engine,
        clock,
        runner_tokens,
        github_actions or github_client,
        background,
    )
    operations = Operations(
        store,
        recorder,
        dispatcher,
        engine=engine,
        clock=clock,
        iso=iso_at,
        default_parallel=settings.operation_parallel,
        check_callback=lambda url: _check_callback(url, sender),
    )
    services = Services(
        settings=settings,
        store=store,
        repo=repo,
        tokens=tokens,
        authenticator=Authenticator(
            store=store,
            tokens=tokens,
            oidc=oidc,
            clock=clock,
            monotonic=monotonic,
            oidc_role_recheck=settings.oidc_role_recheck_seconds,
        ),
        inventory=inventory,
        oidc=oidc,
        clock=clock,
        owns_store=owns_store,
        hub=hub,
        engine=engine,
        recorder=recorder,
        operations=operations,
        runner_tokens=runner_tokens,
        callbacks=callbacks,
        intake=intake,
        background=background,
        preflight=preflight or preflight_for(settings.engine, engine),
        requests=RequestCounts(clock),
        rate_limiter=rate_limiter,
        connections=connections,
    )
    operations.sources = operation_sources.sources(services)
    finished.append(operations.follow_up)  # rollbackOnFailure
    services.webhooks = GitHubWebhooks(services)
    background.append(services.webhooks)
    return services


def _each(hooks: list[Callable[[Any], None]], operation: Any) -> None:
    """Every after-finish hook; one failing does not keep the others from running."""
    for hook in hooks:
        try:
            hook(operation)
        except Exception:
            logger.exception("after-finish hook %s failed", getattr(hook, "__name__", hook))


def _check_callback(url: str, sender: CallbackSender) -> None:
    """Refuse a webhookUrl before the operation starts (`CallbackRefusedError`)."""
    check_url(url, allow_hosts=sender.allow_hosts, resolve=sender.resolve)


class LazyEngine:
    """The configured engine, made on first use (and once)."""

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = root
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def __call__(self) -> Engine:
        with self._lock:
            if self._engine is None:
                from controller.engines.factory import make_engine

                self._engine = make_engine(self.name, repo_root=self.root, env=os.environ)
            return self._engine


def _dispatcher(
    settings: Settings,
    store: Store,
    recorder: Recorder,
    repo: RepoState,
    engine: Callable[[], Engine],
    clock: Callable[[], float],
    runner_tokens: RunnerTokens,
    github: Any,
    background: list[Background],
) -> tuple[Dispatcher, GitHubIntake | None]:
    """The local executor, or GitHub Actions with its webhook intake and reconciler."""
    if settings.dispatcher == "github":
        from controller.adapters.github_actions import GitHubActions
        from controller.adapters.github_api import make_github
        from controller.operations.github import GitHubDispatcher, Reconciler

        if isinstance(github, GitHubActions):
            actions = github  # tests: their own retry policy
        else:
            client = github
            if client is None:
                token = settings.github_token.get_secret_value() if settings.github_token else ""
                client = make_github(token, base_url=settings.github_api_url)
            actions = GitHubActions(
                client, settings.github_repository or "", ref=settings.github_branch
            )
        dispatcher = GitHubDispatcher(
            store,
            recorder,
            actions,
            clock=clock,
            iso=iso_at,
            deploy_workflow=settings.github_deploy_workflow,
            destroy_workflow=settings.github_destroy_workflow,
            service_url=settings.service_url,
            runner_token=lambda op: runner_tokens.issue(op.id, op.deployment_id, op.environment),
        )
        intake = GitHubIntake(store, recorder, actions, clock=clock, iso=iso_at)
        reconciler = Reconciler(
            store,
            intake,
            dispatcher,
            clock=clock,
            iso=iso_at,
            every=settings.reconcile_seconds,
            quiet=settings.reconcile_quiet_seconds,
        )
        background += [dispatcher, reconciler]
        return dispatcher, intake
    from controller.operations.local import LocalDispatcher

    def deployment(deployment_id: str) -> Any:
        return repo.current().snapshot.deployments.get(deployment_id)

    local = LocalDispatcher(
        store,
        recorder,
        engine=engine,
        deployment=deployment,
        repo_root=settings.resolved_root(),
        clock=clock,
        iso=iso_at,
        lease_seconds=settings.operation_lease_seconds,
        default_parallel=settings.operation_parallel,
    )
    background.append(local)
    return local, None


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
