"""`cloud serve` (the REST API under uvicorn) and `cloud users` (who may sign in).

A new user starts the service with no configuration: the repo is the current checkout,
the store and the token-signing secret are created under its `.cloud/`. Bad `CLOUD_…`
values stop `cloud serve` before it binds a port, one line per value, exit code 2. The
first administrator is created with `cloud users add NAME --role Administrator`; the
password is read from the terminal (twice) or, for scripts, from standard input.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from controller.cli.context import UsageError
from controller.cli.output import print_json, table
from controller.core import rbac

if TYPE_CHECKING:
    from controller.service.settings import Settings

# The argument definitions are built for every `cloud` command, so this module imports
# the service (starlette, PyJWT, the store) only when one of its commands runs.
MIN_PASSWORD = 10
TIER_NAMES = ("free", "standard", "enterprise")  # controller.service.http.rate_limits.TIERS


def _settings(args: argparse.Namespace, **options: Any) -> Settings:
    """Settings from the environment, with `--root` and the given options on top."""
    from controller.service.settings import load_settings

    overrides = {name: value for name, value in options.items() if value is not None}
    if getattr(args, "root", None) is not None:
        overrides["repo_root"] = args.root
    settings, problems = load_settings(**overrides)
    if settings is None:
        raise UsageError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


# --- serve --------------------------------------------------------------------------------


def serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to bind (default: $CLOUD_HOST or 127.0.0.1)")
    parser.add_argument("--port", help="port (default: $CLOUD_PORT or 8000)")
    parser.add_argument("--workers", help="worker processes (default: $CLOUD_WORKERS or 1)")


def serve(args: argparse.Namespace) -> int:
    import gc

    import uvicorn

    from controller.cli import INTERPRETER_GC_THRESHOLDS

    # `main` raised the collector's thresholds for short commands (they build a big heap
    # and exit). A server allocates per request for as long as it runs: a first
    # generation of 200,000 objects is collected in one go, a pause of tens of ms that
    # every request in flight waits out (bench/api.py: p99 89 ms against 12 ms with the
    # interpreter's thresholds, the same requests/s). What start-up loaded is frozen out
    # of the collector's sight at start-up (`create_app`'s lifespan), so the full
    # collections of the default thresholds stay short too.
    gc.set_threshold(*INTERPRETER_GC_THRESHOLDS)

    from controller.store import open_store

    settings = _settings(args, host=args.host, port=args.port, workers=args.workers)
    store = open_store(settings.store_target())
    users = store.list_users()
    store.close()
    if not any(user.source == "local" for user in users):
        print(
            "cloud serve: no users yet; create an administrator with\n"
            "  cloud users add admin --role Administrator",
            file=sys.stderr,
        )
    print(
        f"cloud serve: repo {settings.resolved_root()}, store {settings.store_description()}, "
        f"http://{settings.host}:{settings.port} (docs at /docs)",
        file=sys.stderr,
        flush=True,
    )
    # the logging module's documented optimizations: no caller, thread or process lookup
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_config": log_config(settings.log_level),
        "log_level": settings.log_level,
        "access_log": False,  # the service writes its own structured access log
        # X-Forwarded-For is read by the app, from CLOUD_TRUSTED_PROXIES only: uvicorn's own
        # handling trusts any loopback peer, so any relay on the host could pick addresses
        "proxy_headers": False,
        # realtime messages are small JSON: per-message deflate saves little on them, and
        # costs a zlib context per connection and a compression per subscriber per event
        "ws_per_message_deflate": False,
        # no `server: uvicorn` header: it tells a scanner what runs here and nothing to a
        # client, and it is one of the headers uvicorn checks and writes per response
        "server_header": False,
    }
    if settings.workers > 1:
        # worker processes build their own app from the environment: hand the options on
        os.environ |= {
            "CLOUD_REPO_ROOT": str(settings.resolved_root()),
            "CLOUD_HOST": settings.host,
            "CLOUD_PORT": str(settings.port),
            "CLOUD_WORKERS": str(settings.workers),
        }
        uvicorn.run(
            "controller.service.app:create_app", factory=True, workers=settings.workers, **options
        )
    else:
        from controller.service.app import create_app

        uvicorn.run(create_app(settings), **options)
    return 0


def log_config(level: str) -> dict[str, Any]:
    """JSON lines for the access log, plain lines for everything else, all on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
            "bare": {"format": "%(message)s"},
        },
        "handlers": {
            "plain": {"class": "logging.StreamHandler", "formatter": "plain"},
            "bare": {"class": "logging.StreamHandler", "formatter": "bare"},
        },
        "loggers": {
            "cloud.access": {"handlers": ["bare"], "level": level.upper(), "propagate": False},
            "cloud": {"handlers": ["plain"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["plain"], "level": level.upper(), "propagate": False},
        },
    }


# --- users --------------------------------------------------------------------------------


def users_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create a user who can sign in")
    add.add_argument("username")
    add.add_argument(
        "--role",
        action="append",
        required=True,
        metavar="ROLE",
        help=f"repeatable; one of: {', '.join(rbac.ROLES)}",
    )
    add.add_argument(
        "--org",
        action="append",
        default=[],
        metavar="ORGANIZATION",
        help="organization whose deployments the user sees (repeatable; admins see all)",
    )
    add.add_argument("--email", default="")
    add.add_argument("--name", default="")
    add.add_argument("--tier", choices=TIER_NAMES, default="standard", help="rate-limit tier")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    add.add_argument("--format", choices=("text", "json"), default="text")
    listing = actions.add_parser("list", help="list the users")
    listing.add_argument("--format", choices=("text", "json"), default="text")


def users(args: argparse.Namespace) -> int:
    return USERS_ACTIONS[args.users_action](args)


def add_user(args: argparse.Namespace) -> int:
    from controller.service.auth.tokens import hash_password, new_id
    from controller.store import open_store
    from controller.store.base import StoreConflictError, UserRecord

    unknown = rbac.unknown_roles(args.role)
    if unknown:
        raise UsageError(
            f"unknown role(s) {', '.join(map(repr, unknown))}; roles: {', '.join(rbac.ROLES)}"
        )
    password = _read_password(from_stdin=args.password_stdin)
    settings = _settings(args)
    store = open_store(settings.store_target())
    now = _now()
    try:
        store.create_user(
            UserRecord(
                id=new_id("usr"),
                username=args.username,
                email=args.email,
                name=args.name or args.username,
                roles=tuple(dict.fromkeys(args.role)),
                organizations=tuple(dict.fromkeys(args.org)),
                tier=args.tier,
                password_hash=hash_password(password),
                source="local",
                disabled=False,
                created_at=now,
                updated_at=now,
            )
        )
    except StoreConflictError:
        raise UsageError(f"user {args.username!r} already exists") from None
    finally:
        store.close()
    if args.format == "json":
        print_json(
            {
                "username": args.username,
                "roles": list(dict.fromkeys(args.role)),
                "organizations": list(dict.fromkeys(args.org)),
                "tier": args.tier,
            }
        )
    else:
        print(f"created user {args.username} ({', '.join(args.role)})")
    return 0


def list_users(args: argparse.Namespace) -> int:
    from controller.store import open_store

    settings = _settings(args)
    store = open_store(settings.store_target())
    try:
        found = store.list_users()
    finally:
        store.close()
    if args.format == "json":
        print_json(
            {
                "users": [
                    {
                        "username": u.username,
                        "roles": list(u.roles),
                        "organizations": list(u.organizations),
                        "tier": u.tier,
                        "source": u.source,
                        "disabled": u.disabled,
                    }
                    for u in found
                ],
                "total": len(found),
            }
        )
        return 0
    rows = [
        [u.username, ", ".join(u.roles), ", ".join(u.organizations) or "-", u.tier, u.source]
        for u in found
    ]
    print(table(["USERNAME", "ROLES", "ORGANIZATIONS", "TIER", "SOURCE"], rows), end="")
    return 0


USERS_ACTIONS: dict[str, Callable[[argparse.Namespace], int]] = {
    "add": add_user,
    "list": list_users,
}


def _read_password(*, from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def _now() -> str:
    from controller.service.http.envelope import timestamp

    return timestamp()
