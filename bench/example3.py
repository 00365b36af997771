"""seeds/001 "Example 3: Real-Time Deployment Monitoring", line for line, in Python.

The document's `monitor-deployment.js` starts a deploy with an API key, follows its
operation channel over the WebSocket and prints one line per message; JavaScript prints a
missing field as `undefined`. This port keeps that rule (`js()`), so what it prints is
what the document's client would print against this service:

    .venv/bin/python bench/example3.py --url http://127.0.0.1:8000 --api-key msk_live_… \
        [--deployment D1BRV40] [--environment dev]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

import httpx
from websockets.sync.client import connect

UNDEFINED = object()


def js(value: Any) -> str:
    """A value as a JavaScript template literal shows it."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def field(data: Any, name: str) -> Any:
    return data.get(name, UNDEFINED) if isinstance(data, dict) else UNDEFINED


def deploy_and_monitor(
    api_url: str, ws_url: str, api_key: str, deployment_id: str, environment: str,
    *, out: Callable[[str], None] = print, timeout: float = 300.0,
) -> str:  # fmt: skip
    """Run the example; returns the operation's final status."""
    started = httpx.post(
        f"{api_url}/deployments/{deployment_id}/deploy",
        json={"environment": environment, "parallel": True},
        headers={"X-API-Key": api_key},
        timeout=30,
    )
    started.raise_for_status()
    operation_id = started.json()["data"]["operationId"]
    out(f"Deployment started: {operation_id}")
    with connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps({"type": "authenticate", "apiKey": api_key}))
        while True:
            message = json.loads(ws.recv(timeout=timeout))
            kind, data = message.get("type"), message.get("data", {})
            if kind == "authenticated":
                channel = f"deployments/{deployment_id}/operations/{operation_id}"
                ws.send(json.dumps({"type": "subscribe", "channel": channel}))
            elif kind == "stack.progress":
                resource = field(data, "currentResource")
                out(f"[{js(field(data, 'stackName'))}] {js(field(data, 'progress'))}% - "
                    f"{js(field(resource, 'action'))} {js(field(resource, 'name'))}")  # fmt: skip
            elif kind == "stack.completed":
                out(f"✓ [{js(field(data, 'stackName'))}] Completed in "
                    f"{js(field(data, 'duration'))}s ({js(field(data, 'resourcesCreated'))} "
                    "resources)")  # fmt: skip
            elif kind == "stack.failed":
                error = field(data, "error")
                out(f"✗ [{js(field(data, 'stackName'))}] Failed: {js(field(error, 'message'))}")
            elif kind == "operation.completed":
                out(f"\nDeployment {js(field(data, 'status'))} in {js(field(data, 'duration'))}s")
                out(f"  Succeeded: {js(field(data, 'stacksSucceeded'))}, "
                    f"Failed: {js(field(data, 'stacksFailed'))}")  # fmt: skip
                return str(data.get("status"))
            elif kind == "error":
                raise RuntimeError(message.get("message"))


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - a script for people
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--deployment", default="D1BRV40")
    parser.add_argument("--environment", default="dev")
    args = parser.parse_args(argv)
    ws_url = args.url.replace("http", "ws", 1) + "/ws"
    status = deploy_and_monitor(
        f"{args.url}/api/v1", ws_url, args.api_key, args.deployment, args.environment
    )
    return 0 if status == "success" else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
