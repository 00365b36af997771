"""`cloud logs`: a deployment's operation log, from the local store or from a service.

Locally it reads the store the CLI's own runs and `cloud serve` record into (the same
records `GET /deployments/:id/logs` serves, through the same filters); with `--url` (or
`CLOUD_URL`) and `--api-key` (or `CLOUD_API_KEY`) it asks that service. `--follow`
streams: locally by reading what is new in the store twice a second (another process's
deploy shows as it happens), remotely over the endpoint's Server-Sent Events, resuming
after the last event id when the connection drops. Ctrl-C ends a follow (exit 0).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from controller.cli.context import UsageError, load, name_argument, pick_deployment, repo_of
from controller.cli.output import print_json
from controller.core.names import is_name
from controller.operations.log_lines import LogFilter, OperationTypes, event_pages, read_logs
from controller.operations.recorded_runs import local_store, store_exists, store_target

POLL_SECONDS = 0.5
LEVELS = ("debug", "info", "warn", "error")


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", help="deployment id (or folder name or path, locally)")
    parser.add_argument("-e", "--environment", type=name_argument("environment_name"))
    parser.add_argument("--stack", type=name_argument("stack_name"))
    parser.add_argument("--level", choices=LEVELS, help="minimum level (info: info, warn, error)")
    parser.add_argument("--since", help="a range back from now (30m, 1h, 7d) or an ISO time")
    parser.add_argument("--search", help="only lines containing this text (any case)")
    parser.add_argument(
        "--operation", type=name_argument("operation_id"), help="only this operation's lines (op-…)"
    )
    parser.add_argument(
        "--limit", type=_limit, default=100, help="newest lines shown first (1-1000, default 100)"
    )
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument(
        "--url",
        default=os.environ.get("CLOUD_URL") or None,
        help="read from this service instead of the local store (default: $CLOUD_URL)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("CLOUD_API_KEY") or None,
        help="the service's API key (default: $CLOUD_API_KEY)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="json: with --follow, one "
        "JSON line per entry"
    )  # fmt: skip


def _limit(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError("must be between 1 and 1000")
    return number


def run(args: argparse.Namespace) -> int:
    try:
        if args.url:
            return _remote(args)
        return _local(args)
    except KeyboardInterrupt:
        return 0  # the way out of --follow


# --- output ---------------------------------------------------------------------------------


def render(entry: dict[str, Any]) -> str:
    where = entry.get("environment") or "-"
    stack = f" {entry['stack']}:" if entry.get("stack") else ""
    return f"{entry['timestamp']} {entry['level']:<5} [{where}]{stack} {entry['message']}"


def _emit(args: argparse.Namespace, entry: dict[str, Any]) -> None:
    if args.format == "json":
        sys.stdout.write(json.dumps(entry, default=str) + "\n")
    else:
        sys.stdout.write(render(entry) + "\n")
    sys.stdout.flush()


def _backlog(args: argparse.Namespace, deployment_id: str, data: dict[str, Any]) -> None:
    if args.format == "json" and not args.follow:
        print_json(data)
        return
    for entry in data["logs"]:
        _emit(args, entry)
    if not data["logs"] and args.format == "text" and not args.follow:
        print(f"no log lines of {deployment_id} match", file=sys.stderr)


# --- local ----------------------------------------------------------------------------------


def _local(args: argparse.Namespace) -> int:
    repo = repo_of(args)
    deployment_id = _deployment_id(args, repo)
    try:
        log_filter = LogFilter.build(
            now=time.time(),
            environment=args.environment,
            stack=args.stack,
            operation_id=args.operation,
            level=args.level,
            since=args.since,
            search=args.search,
        )
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not store_exists(repo.root) and not args.follow:
        print(f"no operations recorded yet in {store_target(repo.root)}", file=sys.stderr)
        _backlog(args, deployment_id, _page(deployment_id, args, [], 0))
        return 0
    with local_store(repo.root) as store:
        entries, total, last = read_logs(store, deployment_id, log_filter, limit=args.limit)
        _backlog(args, deployment_id, _page(deployment_id, args, entries, total))
        if not args.follow:
            return 0
        operations = OperationTypes(store)
        while True:
            for page in event_pages(store, deployment_id, log_filter, after_id=last):
                for record in page:
                    entry = log_filter.entry(record, operations)
                    if entry is not None:
                        _emit(args, entry)
                last = page[-1].id or last
            time.sleep(POLL_SECONDS)


def _deployment_id(args: argparse.Namespace, repo: Any) -> str:
    """The deployment's id; an id that is no longer in the checkout still has its logs."""
    try:
        return pick_deployment(load(repo), args.deployment, repo).deployment_id
    except UsageError:
        if is_name("deployment_id", args.deployment):
            print(f"note: {args.deployment} is not in this checkout", file=sys.stderr)
            return str(args.deployment)
        raise


def _page(
    deployment_id: str, args: argparse.Namespace, entries: list[dict[str, Any]], total: int
) -> dict[str, Any]:
    """The logs endpoint's `data`, for the same query."""
    return {
        "deploymentId": deployment_id,
        "environment": args.environment,
        "logs": entries,
        "total": total,
        "returned": len(entries),
    }


# --- a service ------------------------------------------------------------------------------


def _remote(args: argparse.Namespace) -> int:
    import httpx

    if not args.api_key:
        raise UsageError("--url needs an API key: --api-key or $CLOUD_API_KEY")
    url = f"{args.url.rstrip('/')}/api/v1/deployments/{args.deployment}/logs"
    params = {
        key: value
        for key, value in {
            "environment": args.environment,
            "stack": args.stack,
            "level": args.level,
            "since": args.since,
            "search": args.search,
            "operationId": args.operation,
            "limit": args.limit,
        }.items()
        if value is not None
    }
    headers = {"X-API-Key": args.api_key}
    try:
        if not args.follow:
            response = httpx.get(url, params=params, headers=headers, timeout=30)
            _check(response)
            _backlog(args, args.deployment, response.json()["data"])
            return 0
        last: str | None = None
        while True:  # reconnect after a dropped stream, resuming after the last event
            for event_id, entry in _stream(url, params, headers, last):
                last = event_id or last
                _emit(args, entry)
            time.sleep(POLL_SECONDS)
    except httpx.HTTPError as error:
        raise UsageError(f"cannot reach {args.url}: {error}") from None


def _check(response: Any) -> None:
    if response.status_code == 200:
        return
    try:
        error = response.json()["error"]
        message = f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        message = response.text[:200]
    raise UsageError(f"the service answered {response.status_code}: {message}")


def _stream(
    url: str, params: dict[str, Any], headers: dict[str, str], last: str | None
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """`(id, entry)` of each Server-Sent Event, until the stream ends."""
    import httpx

    headers = {**headers, "Accept": "text/event-stream"}
    if last is not None:
        headers["Last-Event-ID"] = last
    with httpx.stream(
        "GET", url, params=params, headers=headers, timeout=httpx.Timeout(30, read=None)
    ) as response:
        if response.status_code != 200:
            response.read()
            _check(response)
        event_id: str | None = None
        data: list[str] = []
        for line in response.iter_lines():
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line and data:
                yield event_id, json.loads("\n".join(data))
                event_id, data = None, []
