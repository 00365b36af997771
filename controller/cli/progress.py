"""Showing an operation as it runs: a live table on a terminal, plain lines otherwise.

Both are event subscribers of the executor. Plain lines (CI logs, pipes) carry one line
per stack start and end; the live table redraws a row per stack with its status, progress
and counts. Logs of the programs show with `--verbose`.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

_ICONS = {
    "deployed": "✔",
    "destroyed": "✔",
    "previewed": "✔",
    "skipped": "=",
    "failed": "✘",
    "blocked": "⊘",
    "cancelled": "·",
    "running": "▶",
}


class PlainProgress:
    def __init__(self, stream: TextIO | None = None, *, verbose: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.verbose = verbose

    def __call__(self, message: dict[str, Any]) -> None:
        kind, data = message["type"], message["data"]
        clock = message["timestamp"][11:19]
        stack = data.get("stackName", "")
        line = None
        if kind == "operation.started":
            simulated = " (simulated)" if data.get("simulated") else ""
            line = (
                f"{data['operationType']} {data['deploymentId']} / {data['environment']}: "
                f"{data['stacksToProcess']} stacks{simulated}"
            )
        elif kind == "stack.started":
            line = f"{stack}: started (layer {data.get('layer')}) {data.get('reason', '')}"
        elif kind == "stack.completed":
            counts = data.get("counts") or {}
            changed = ", ".join(f"{n} {k}" for k, n in counts.items() if n and k != "same")
            detail = data.get("reason") or changed or "no changes"
            line = f"{stack}: {data['status']} ({detail})"
        elif kind == "stack.skipped":
            line = f"{stack}: {data['status']} ({data.get('reason') or 'not run'})"
        elif kind == "stack.failed":
            line = f"{stack}: FAILED: {data['error']['message']}"
        elif kind == "operation.completed":
            line = f"{data['operationType']} {data['status']} in {data['duration']:.1f}s"
        elif kind == "log" and (self.verbose or data.get("level") in ("warning", "error")):
            line = f"{stack or 'operation'}: {data.get('level')}: {data.get('message')}"
        if line:
            self.stream.write(f"[{clock}] {line.rstrip()}\n")
            self.stream.flush()


class LiveProgress:
    """A rich live table; use as a context manager around the operation."""

    def __init__(self, stacks: list[tuple[str, int]], *, title: str) -> None:
        self.rows = {
            name: {"layer": layer, "status": "pending", "progress": "", "detail": ""}
            for name, layer in stacks
        }
        self.title = title
        self.lock = threading.Lock()
        self.console = Console(stderr=True)
        self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._table())
        self.live.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, message: dict[str, Any]) -> None:
        kind, data = message["type"], message["data"]
        name = data.get("stackName")
        with self.lock:
            row = self.rows.get(name) if name else None
            if row is None and name:
                row = self.rows[name] = {
                    "layer": data.get("layer", 0),
                    "status": "",
                    "progress": "",
                    "detail": "",
                }
            if kind == "stack.started" and row is not None:
                row.update(status="running", detail=data.get("reason", ""))
            elif kind == "stack.progress" and row is not None:
                current = data.get("currentResource") or {}
                row.update(
                    progress=f"{data.get('progress', 0)}%",
                    detail=f"{current.get('action', '')} {current.get('name', '')}",
                )
            elif kind == "stack.completed" and row is not None:
                counts = data.get("counts") or {}
                changed = " ".join(f"{k} {n}" for k, n in counts.items() if n and k != "same")
                row.update(
                    status=data["status"],
                    progress="",
                    detail=data.get("reason") or changed or "no changes",
                )
            elif kind == "stack.skipped" and row is not None:
                row.update(status=data["status"], progress="", detail=data.get("reason", ""))
            elif kind == "stack.failed" and row is not None:
                row.update(status="failed", progress="", detail=data["error"]["message"])
            else:
                return
            self.live.update(self._table())

    def _table(self) -> Table:
        table = Table(title=self.title, expand=False)
        for column in ("layer", "stack", "status", "", "detail"):
            table.add_column(column)
        for name, row in sorted(self.rows.items(), key=lambda item: (item[1]["layer"], item[0])):
            icon = _ICONS.get(row["status"], " ")
            table.add_row(
                str(row["layer"]),
                name,
                f"{icon} {row['status']}",
                row["progress"],
                row["detail"][:80],
            )
        return table
