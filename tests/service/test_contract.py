"""The contract table (`contract.py`), row by row, against one service: a local checkout,
the simulated engine, D1BRV40 deployed in dev, and a user who signs in as seeds/001 does.

A `documented` row sends the document's example request to the document's path and finds
every field the document shows; a `mapped` row does the same where the row says it is
served; a `missing` row checks that nothing answers there. Rows run in the table's order
within phases (reads, writes, operations, destroys), each operation waited for.
"""

from __future__ import annotations

import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from controller.adapters.callbacks import CallbackSender
from controller.adapters.catalog_sources import LocalCatalogSource
from controller.adapters.inventory import EngineInventory
from controller.core import rbac
from controller.engines.simulated import SimulatedEngine
from controller.service.app import create_app
from controller.service.auth.tokens import hash_password, new_id
from controller.service.services import build_services
from controller.store.base import OperationRecord, SessionRecord, UserRecord
from tests.conftest import REPO_ROOT, git
from tests.fakes import Breakable
from tests.service.conftest import make_settings
from tests.service.contract import LOGIN, ROWS, Row, counts
from tests.service.event_helpers import receive
from tests.test_callbacks import Pool, resolver

ORDERED = sorted(ROWS, key=lambda row: row.phase)  # sorted() is stable: table order within


class World:
    def __init__(self, root: Path, data: Path) -> None:
        self.broken: dict[str, str] = {}
        self.engine = Breakable(
            SimulatedEngine(state_dir=data / "sim"), lambda spec: self.broken.get(spec.stack)
        )
        settings = make_settings(data, repo_root=root, callback_allow_hosts=["webhook.example.com"])
        sender = CallbackSender(
            resolve=resolver({"webhook.example.com": ["93.184.216.34"]}),
            pool_factory=Pool([200] * 100).factory,
            sleep=lambda s: None,
        )
        engine = lambda: self.engine  # noqa: E731
        self.services = build_services(
            settings,
            source=LocalCatalogSource(root),
            engine=engine,
            inventory=EngineInventory("simulate", repo_root=root, env={}, engine=engine),
            callback_sender=sender,
        )
        self.client = TestClient(create_app(services=self.services))
        self.client.__enter__()
        store = self.services.store
        now = self.services.now()
        self.user = store.create_user(
            UserRecord(new_id("usr"), "user", "user@example.com", "John Doe",
                       (rbac.ADMINISTRATOR,), ("CompanyA", "CompanyB", "MyOrg"), "enterprise",
                       hash_password(LOGIN["password"], n=2**4), "local", False, now, now)
        )  # fmt: skip
        self.admin = self.bearer()
        self.context: dict[str, Any] = {"deployment": "D1BRV40"}
        first = self.call("POST", "/api/v1/deployments/D1BRV40/deploy", {"environment": "dev"})
        self.context["operation"] = first["operationId"]
        assert self.wait(first["statusUrl"])["status"] == "success"

    def bearer(self) -> dict[str, str]:
        session = self.services.store.create_session(
            SessionRecord(new_id("ses"), self.user.id, self.services.now(), None)
        )
        token = self.services.tokens.issue(
            user_id=self.user.id, session_id=session.id, username=self.user.username
        )
        return {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: Any = None, **options: Any) -> dict[str, Any]:
        response = self.client.request(method, path, json=body, headers=self.admin, **options)
        assert response.status_code < 300, response.text
        return response.json()["data"]

    def wait(self, url: str, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            data = self.call("GET", url)
            if data["status"] not in ("pending", "in_progress"):
                return data
            time.sleep(0.2)
        raise AssertionError(f"{url} still running")

    # --- what rows need first ----------------------------------------------------------

    def refresh_token(self) -> None:
        answer = self.client.post("/api/v1/auth/login", json=LOGIN).json()["data"]
        self.context["refresh"] = answer["refreshToken"]

    def api_key(self) -> None:
        if "key" not in self.context:
            body = {"name": "listed", "permissions": ["deployments:read"]}
            self.context["key"] = self.call("POST", "/api/v1/auth/api-keys", body)["keyId"]

    def created(self) -> None:
        data = self.call("POST", "/api/v1/deployments", {"organization": "CompanyB",
                         "project": "spare", "template": "minimal",
                         "accounts": {"dev": "111111111111"}})  # fmt: skip
        self.context["created"] = data["deploymentId"]

    def registered(self) -> None:
        from tests.service.contract import REGISTER

        if self.client.get("/api/v1/stacks/custom-monitoring", headers=self.admin).is_error:
            self.call("POST", "/api/v1/stacks", REGISTER)

    def template(self) -> None:
        from tests.service.contract import TEMPLATE

        if self.client.get("/api/v1/templates/custom-ml-platform", headers=self.admin).is_error:
            self.call("POST", "/api/v1/templates", TEMPLATE)

    def exported(self) -> None:
        params = {"environment": "dev", "stack": "network"}
        self.context["state"] = self.call(
            "GET", "/api/v1/deployments/D1BRV40/state/export", params=params
        )["state"]

    def manifest(self) -> None:
        self.context["manifest"] = self.call("GET", "/api/v1/deployments/D1BRV40/manifest")[
            "manifest"
        ]

    def no_compute_dependents(self) -> None:
        body = {"environment": "dev", "stackFilter": ["monitoring", "services-api"]}
        self.wait(self.call("POST", "/api/v1/deployments/D1BRV40/destroy", body)["statusUrl"])

    def two_deploys(self) -> None:
        good = [
            op for op in self.services.store.list_operations(deployment_id="D1BRV40",
                                                             environment="dev")
            if op.type == "deploy" and op.status == "success"
        ]  # fmt: skip
        assert len(good) >= 2, "the deploy rows run before the rollback row"

    def failed(self) -> None:
        self.broken["dns"] = "boom (contract test)"
        body = {"environment": "dev", "stackFilter": ["dns"], "force": True}
        answer = self.call("POST", "/api/v1/deployments/D1BRV40/deploy", body)
        assert self.wait(answer["statusUrl"])["status"] == "failed"
        self.broken.clear()
        self.context["failed"] = answer["operationId"]

    def running(self) -> None:
        now = self.services.now()
        operation = OperationRecord(
            "op-0000c0ffee", "D1BRV40", "prod", "deploy", "in_progress", now, now,
            "runner@example.com", now, payload={"stacks": [{"name": "network", "layer": 1}]},
        )  # fmt: skip
        self.services.store.create_operation(operation)
        self.context["running"] = operation.id

    # --- credentials -------------------------------------------------------------------

    def headers(self, row: Row) -> dict[str, str]:
        if row.auth == "none":
            return {}
        if row.auth == "session":
            token = self.client.post("/api/v1/auth/login", json=LOGIN).json()["data"]
            return {"Authorization": f"Bearer {token['accessToken']}"}
        if row.auth == "service":
            body = {"service": "D1BRV40", "origin": "contract", "expiration_in_days": 1}
            issued = self.client.post("/api/v1/service-token", json=body, headers=self.admin)
            return {"Authorization": f"Bearer {issued.json()['service_token']}"}
        if row.auth == "runner":
            running = self.context["running"]
            token = self.services.runner_tokens.issue(running, "D1BRV40", "prod")
            return {"X-Cloud-Runner-Token": token}
        return self.admin


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("contract") / "repo"
    for folder in ("stacks", "deployments"):
        shutil.copytree(
            REPO_ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "seed")
    made = World(root, tmp_path_factory.mktemp("contract-data"))
    yield made
    made.client.__exit__(None, None, None)


class Placeholders(dict[str, Any]):
    """A path's {placeholders} from the world, and well-formed stand-ins for the ones a
    row does not set up (the 000 rows only check that the route answers)."""

    STAND_INS: ClassVar[dict[str, str]] = {"key": "key-0000000000000000", "created": "DZZZZZZ"}

    def __init__(self, context: dict[str, Any]) -> None:
        super().__init__({k: v for k, v in context.items() if isinstance(v, str)})

    def __missing__(self, key: str) -> str:
        return self.STAND_INS.get(key, "op-000000000000")


def filled(value: Any, context: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        key = value[1:-1]
        if key in context:
            return context[key]
    if isinstance(value, dict):
        return {k: filled(v, context) for k, v in value.items()}
    return value


def has(data: Any, path: str) -> bool:
    """Whether `data` has the dotted `path` (`a[].b`: `b` in a's first item)."""
    node = data
    for part in path.split("."):
        listed = part.endswith("[]")
        key = part.removesuffix("[]")
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
        if listed:
            if not isinstance(node, list) or not node:
                return False
            node = node[0]
    return True


def _special(world: World, row: Row, path: str) -> None:
    client = world.client
    if row.special == "same":  # the route answers (a 401 before anything runs, not a 404)
        method = path.split(" ", 1)[0] if " " in path else row.served.split(" ", 1)[0]
        response = client.request(row.served.split(" ", 1)[0], path)
        assert response.status_code not in (404, 405), (method, path, response.text)
    elif row.special == "yaml":
        assert yaml.safe_load(client.get(path).text)["openapi"] == "3.1.0"
    elif row.special == "html":
        response = client.get(path)
        assert response.headers["content-type"].startswith("text/html")
        assert "error-RESOURCE_NOT_FOUND" in response.text
    elif row.special in ("websocket", "channel"):
        channel = row.extra.get("channel", "deployments/:deploymentId/operations/:operationId")
        names = {":deploymentId": "D1BRV40", ":operationId": world.context["operation"],
                 ":stackName": "network", ":environmentName": "dev"}  # fmt: skip
        for name, value in names.items():
            channel = channel.replace(name, value)
        with client.websocket_connect("/ws") as ws:
            ws.send_json({"type": "authenticate",
                          "token": world.admin["Authorization"].split()[1]})  # fmt: skip
            assert receive(ws)["type"] == "authenticated"
            ws.send_json({"type": "subscribe", "channel": channel})
            assert receive(ws)["type"] == "subscribed"
            if row.special == "websocket":  # the operation's messages, replayed
                first = receive(ws)
                assert first["channel"] == channel
                assert first["data"]["operationId"] == world.context["operation"]
    elif row.special == "websocket-004":
        with client.websocket_connect(path) as ws:
            ws.send_json({"access_token": world.admin["Authorization"].split()[1]})
            answer = receive(ws)
            assert (answer["type"], answer["status"]) == ("authentication", "success")
    elif row.special == "sse":
        headers = world.admin | {"Accept": "text/event-stream"}
        with client.stream("GET", path, headers=headers, params={"limit": "5"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            for line in response.iter_lines():
                if line.startswith("data: "):
                    break
            else:  # pragma: no cover - the assertion says what is missing
                raise AssertionError("no event in the stream")
    else:  # pragma: no cover - a row naming a check that does not exist
        raise AssertionError(row.special)


@pytest.mark.parametrize("row", ORDERED, ids=[row.id for row in ORDERED])
def test_each_documented_endpoint(world: World, row: Row) -> None:
    context = world.context
    if row.kind == "missing":
        method, path = row.served.split(" ", 1)  # type: ignore[union-attr]
        response = world.client.request(method, path, headers=world.admin, json={})
        # nothing answers there: no route, or only a route whose path parameter it is not
        error = response.json().get("error", {})
        parameter = error.get("details", {}).get("field") in ("deployment_id", "stack_name")
        assert response.status_code in (404, 405) or (response.status_code == 400 and parameter), (
            row.id,
            response.text,
        )
        return
    assert row.served is not None
    if row.setup:
        getattr(world, row.setup)()
    method, path = row.served.split(" ", 1)
    path = path.format_map(Placeholders(context))
    if row.special:
        _special(world, row, path)
        return
    if "refused" in row.extra:  # the document's own request, answered with where to go
        wrong_method, wrong_path, params = row.extra["refused"]
        refused = world.client.request(
            wrong_method, wrong_path.format(**context), params=params, headers=world.admin
        )
        assert (
            refused.status_code == 400
            and row.served.split(" ", 1)[1].split("/")[-1] in (refused.json()["error"]["message"])
        ), refused.text
    headers = world.headers(row)
    body = filled(row.body, context)
    if row.form is not None:
        headers = headers | {"Content-Type": "application/x-www-form-urlencoded"}
        response = world.client.request(method, path, content=row.form, headers=headers)
    else:
        response = world.client.request(method, path, json=body, params=row.query, headers=headers)
    assert response.status_code == row.status, (row.id, response.text)
    payload = response.json()
    data = payload["data"] if row.envelope else payload
    missing = [name for name in row.fields if not has(data, name)]
    assert not missing, (row.id, missing, data)
    assert [key for key in row.top if key not in payload] == []
    if row.setup == "running":
        world.services.recorder.finish(context["running"], "success")
    if isinstance(data, dict) and data.get("statusUrl") and response.status_code == 202:
        world.wait(data["statusUrl"])


def test_the_table_covers_every_document_and_counts_add_up() -> None:
    found = counts()
    assert set(found) == {"000", "001", "002", "003", "004"}
    assert all(sum(kinds.values()) >= 10 for kinds in found.values())
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids))  # one row per endpoint
