"""The order stacks run in: each starts the moment its own dependencies are done.

No layer barrier: in a layer-by-layer scheme a 60-second stack waits for the 900-second
EKS cluster beside it before anything downstream of it may start; here it does not. A
failure blocks everything downstream of it (reported as *blocked*, not failed); without
`continue_on_error` nothing new starts after a failure, with it every stack not downstream
of a failure still runs. `stop()` (Ctrl-C) starts nothing new and lets running stacks end.

A state machine with no threads and no clock; the executor drives it.
A purely computational module.
"""

from __future__ import annotations

from typing import Literal

import networkx as nx

State = Literal["pending", "running", "succeeded", "skipped", "failed", "blocked", "cancelled"]
FINAL: frozenset[str] = frozenset({"succeeded", "skipped", "failed", "blocked", "cancelled"})
GOOD: frozenset[str] = frozenset({"succeeded", "skipped"})


class Scheduler:
    def __init__(self, graph: nx.DiGraph, *, continue_on_error: bool = False) -> None:
        """`graph` edges run u -> v: u must succeed (or be skipped) before v starts."""
        self.graph = graph
        self.continue_on_error = continue_on_error
        self.states: dict[str, State] = dict.fromkeys(graph.nodes, "pending")
        self.reasons: dict[str, str] = {}
        self.stopping = False
        self._stop_reason = ""
        self._tails: dict[str, int] = {}

    def ready(self) -> list[str]:
        """Pending stacks whose dependencies all succeeded or were skipped, in a stable order
        (longest remaining chain first, so the critical path starts early)."""
        if self.stopping:
            return []
        ready = [
            name
            for name, state in self.states.items()
            if state == "pending"
            and all(self.states[up] in GOOD for up in self.graph.predecessors(name))
        ]
        return sorted(ready, key=lambda name: (-self._tail(name), name))

    def start(self, name: str) -> None:
        if self.states[name] != "pending":
            raise ValueError(f"{name} is {self.states[name]}, not pending")
        self.states[name] = "running"

    def finish(self, name: str, state: State, reason: str = "") -> None:
        if self.states[name] not in ("running", "pending"):
            raise ValueError(f"{name} is {self.states[name]}; it cannot finish again")
        self.states[name] = state
        if reason:
            self.reasons[name] = reason
        if state == "failed":
            for downstream in nx.descendants(self.graph, name):
                if self.states[downstream] == "pending":
                    self.states[downstream] = "blocked"
                    self.reasons[downstream] = f"upstream {name} failed"
            if not self.continue_on_error:
                self.stop(f"not started: {name} failed (use --continue-on-error to go on)")

    def stop(self, reason: str = "not started: the operation was interrupted") -> None:
        """Start nothing new; what is pending ends as cancelled once running stacks end."""
        self.stopping = True
        self._stop_reason = reason

    def done(self) -> bool:
        if any(state == "running" for state in self.states.values()):
            return False
        if self.stopping or not self.ready():
            for name, state in self.states.items():
                if state == "pending":
                    self.states[name] = "cancelled"
                    self.reasons[name] = self._stop_reason or "not started"
            return True
        return False

    def running(self) -> list[str]:
        return [name for name, state in self.states.items() if state == "running"]

    def _tail(self, name: str) -> int:
        """The longest estimated duration chain starting at `name` (itself included)."""
        if name not in self._tails:
            node = self.graph.nodes[name]
            own = node["definition"].estimated_duration if "definition" in node else 1
            self._tails[name] = own + max(
                (self._tail(down) for down in self.graph.successors(name)), default=0
            )
        return self._tails[name]
