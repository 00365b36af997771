"""Operations the CLI runs, recorded in the local store like the service's own.

On a laptop `cloud deploy` is the operation: it takes the deployment environment's lock
in the store the service uses (`.cloud/cloud.db`, `CLOUD_DATABASE` / `CLOUD_DATA_DIR`, or
the PostgreSQL server of `CLOUD_DATABASE_URL`),
so a CLI deploy and a deploy through `cloud serve` of the same environment never run at
once; its events go through the same `Recorder`, so `cloud logs`, `cloud status` and the
service's endpoints show them; and it ends once, with its result. A run whose process was
killed is found by the next start (its owner's pid is gone) and reported as interrupted,
as the service's local dispatcher does.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from controller.adapters.clock import iso_at
from controller.core import events
from controller.engines.base import Engine
from controller.operations.control import record_start
from controller.operations.local import RESULT_KEYS, LocalDispatcher
from controller.operations.owners import local_owner, owner_liveness
from controller.operations.recorder import Recorder
from controller.store import open_store
from controller.store.base import LockRecord, OperationRecord, Store, StoreError

DISPATCHER = "cli"
LEASE_SECONDS = 24 * 3600  # a CLI run renews nothing; its owner's pid tells whether it lives


def store_target(root: Path, env: Mapping[str, str] | None = None) -> Path | str:
    """Where the service keeps its store for the checkout `root`: `CLOUD_DATABASE_URL` (a
    PostgreSQL server several replicas share), else the SQLite file (`CLOUD_DATABASE`, or
    `cloud.db` in `CLOUD_DATA_DIR` or `.cloud/`)."""
    env = os.environ if env is None else env
    if env.get("CLOUD_DATABASE_URL", "").strip():
        return env["CLOUD_DATABASE_URL"].strip()
    if env.get("CLOUD_DATABASE"):
        return Path(env["CLOUD_DATABASE"])
    data_dir = Path(env["CLOUD_DATA_DIR"]) if env.get("CLOUD_DATA_DIR") else root / ".cloud"
    return data_dir / "cloud.db"


def store_exists(root: Path, env: Mapping[str, str] | None = None) -> bool:
    """Whether anything was ever recorded here (a server always counts)."""
    target = store_target(root, env)
    return not isinstance(target, Path) or target.exists()


def describe_store(target: Path | str) -> str:
    """The store for messages: the file, or the server without its password."""
    if isinstance(target, Path):
        return str(target)
    parts = urlsplit(target)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@contextlib.contextmanager
def local_store(root: Path, env: Mapping[str, str] | None = None) -> Iterator[Store]:
    """The store, opened (created and migrated if new) for the length of a command;
    `StoreError` naming it when it cannot be."""
    target = store_target(root, env)
    try:
        store = open_store(target)
    except StoreError as error:
        raise StoreError(
            f"cannot open the operation store {describe_store(target)}: {error}"
        ) from None
    try:
        yield store
    finally:
        store.close()


@dataclass
class RecordedRun:
    """One CLI operation in the store: started (lock taken), its events, its end."""

    store: Store
    operation: OperationRecord
    recorder: Recorder
    lock: LockRecord

    def subscriber(self, message: dict[str, Any]) -> None:
        """The executor's events, recorded as they happen (the start already is)."""
        kind = message["type"]
        if kind == events.OPERATION_STARTED:
            return
        if kind == events.OPERATION_COMPLETED:
            data = message["data"]
            patch = {"result": {key: data[key] for key in RESULT_KEYS if key in data}}
            self.recorder.finish(
                self.operation.id, data["status"], message=message, payload_patch=patch
            )
            return
        self.recorder.append(message)

    def finish(self, status: str, *, result: dict[str, Any] | None = None, **data: Any) -> None:
        """End it (if the executor's own `operation.completed` did not already)."""
        self.recorder.finish(
            self.operation.id,
            status,
            payload_patch={"result": result} if result is not None else None,
            **data,
        )

    @contextlib.contextmanager
    def until_done(self) -> Iterator[RecordedRun]:
        """Around the run: if it ends without its `operation.completed` (a crash, an
        interrupt), it is recorded as failed, with why; never left running."""
        failure = "ended without a result"
        try:
            yield self
        except BaseException as error:
            failure = f"{type(error).__name__}: {error}"
            raise
        finally:  # a no-op once the executor's operation.completed ended it
            self.finish("failed", error={"code": "OPERATION_FAILED", "message": failure})


def start_run(
    store: Store,
    *,
    deployment_id: str,
    environment: str,
    kind: str,
    started_by: str,
    payload: dict[str, Any],
    engine: Callable[[], Engine],
    deployment: Callable[[str], Any],
    repo_root: Path,
    started: Mapping[str, Any] | None = None,
    clock: Callable[[], float] = time.time,
    recorder: Recorder | None = None,
    owner: str | None = None,
    dispatcher: str = DISPATCHER,
) -> RecordedRun:
    """Take the environment's lock and record the operation with its `operation.started`
    (`started`: more of that message's data). `OperationInProgressError` if another live
    operation holds it; one whose process is gone is reported interrupted first. The
    service passes its own recorder (which wakes its listeners) and lock owner."""
    recorder = recorder or Recorder(store, now=lambda: iso_at(clock()))
    owner = owner or local_owner()
    holder = store.get_lock(deployment_id, environment)
    me = owner.removeprefix("api:")
    if holder is not None and owner_liveness(holder.owner.removeprefix("api:"), me=me) == "dead":
        LocalDispatcher(
            store,
            recorder,
            engine=engine,
            deployment=deployment,
            repo_root=repo_root,
            clock=clock,
            iso=iso_at,
            owner=me,
        ).recover(only=holder.operation_id)
    record, lock = record_start(
        recorder,
        deployment_id=deployment_id,
        environment=environment,
        kind=kind,
        started_by=started_by,
        owner=owner,
        lease_seconds=LEASE_SECONDS,
        payload={"dispatcher": dispatcher, **payload},
        epoch=clock(),
        iso=iso_at,
        started=started,
    )
    return RecordedRun(store, record, recorder, lock)


def cli_user() -> str:
    """Who started a CLI run: the OS user (what `startedBy` shows)."""
    import getpass

    try:
        return f"{getpass.getuser()} (cli)"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli"
