"""Who holds an operation's lock: this process, another one alive, or one that is gone.

A local owner is `local:<host>:<pid>:<nonce>`. On the same host a dead pid means the
process that ran the operation is gone (killed, crashed): its operation can be reported
as interrupted at once instead of waiting for its lease to run out. Elsewhere (another
host, GitHub) only the lease can tell.
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import Literal

Liveness = Literal["alive", "dead", "unknown"]


def local_owner() -> str:
    return f"local:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def owner_liveness(owner: str, *, me: str) -> Liveness:
    """Whether the process `owner` names still runs; `me` is this process's owner."""
    if owner == me:
        return "alive"
    parts = owner.split(":")
    if len(parts) != 4 or parts[0] != "local" or parts[1] != socket.gethostname():
        return "unknown"
    try:
        pid = int(parts[2])
    except ValueError:
        return "unknown"
    if pid == os.getpid():
        return "dead"  # our pid, not our nonce: a previous process (a container's pid 1)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:
        return "alive"  # someone else's process: it exists
    return "alive" if not _zombie(pid) else "dead"


def _zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(0); its /proc status says Z."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stream:
            return stream.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
