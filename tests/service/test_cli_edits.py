"""The CLI's edit commands against the API's write endpoints, request for request.

Each case makes the same change twice, on two identical checkouts: once through the
service (local checkout, committed) and once with the `cloud` command and `--commit`. The
files written are the same and validate, the commits hold exactly those files, and the
command's JSON is the endpoint's `data` (timestamps, who, and commit ids aside).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.adapters.catalog_sources import LocalCatalogSource
from controller.cli.main import main
from controller.engines.simulated import SimulatedEngine
from tests.conftest import git
from tests.service.conftest import Harness, HarnessFactory
from tests.service.fakes import FakeInventory

MONITORING = {
    "name": "custom-monitoring",
    "displayName": "Custom Monitoring Stack",
    "description": "CloudWatch dashboards, alarms, and custom metrics",
    "category": "devops",
    "dependencies": ["network", "security"],
    "outputs": {"dashboardUrl": {"type": "string", "description": "CloudWatch dashboard URL"}},
    "configuration": {
        "alarmEmail": {"type": "string", "description": "Email for alarms", "required": True}
    },
}
ML = {
    "name": "custom-ml-platform",
    "displayName": "Custom ML Platform",
    "description": "Custom machine learning platform",
    "stacks": ["network", "security", "storage"],
    "defaultConfig": {"network": {"vpcCidr": "10.0.0.0/16"}},
    "environments": {
        "dev": {"region": "us-east-1", "enabled": True},
        "prod": {"region": "us-west-2", "enabled": False},
    },
}
VOLATILE = ("At", "By")


@dataclass
class Twins:
    """Two identical checkouts: one the service writes, one the CLI writes."""

    api: Path
    cli: Path
    harness: Harness
    tmp: Path

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        response = self.harness.client.request(
            method, f"/api/v1{path}", json=body, headers=self.harness.bearer()
        )
        return response.status_code, response.json()

    def cloud(self, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
        code = main(["--root", str(self.cli), *argv])
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.strip().startswith("{") else out), err

    def document(self, name: str, data: Any) -> str:
        path = self.tmp / name
        path.write_text(yaml.safe_dump(data))
        return str(path)


@pytest.fixture
def twins(make_harness: HarnessFactory, checkout: Path, tmp_path: Path) -> Twins:
    cli = tmp_path / "cli-checkout"
    shutil.copytree(checkout, cli)
    harness = make_harness(
        source=LocalCatalogSource(checkout), repo_root=checkout, inventory=FakeInventory()
    )
    return Twins(checkout, cli, harness, tmp_path)


def comparable(data: Any) -> Any:
    """`data` without what differs between two runs of the same request."""
    if isinstance(data, dict):
        return {
            key: ("<sha>" if key == "commit" and value else comparable(value))
            for key, value in data.items()
            if not key.endswith(VOLATILE)
        }
    if isinstance(data, list):
        return [comparable(item) for item in data]
    return data


def same_files(twins: Twins, *paths: str) -> None:
    for path in paths:
        api, cli = twins.api / path, twins.cli / path
        assert api.exists() == cli.exists(), path
        if api.exists():
            assert api.read_text() == cli.read_text(), path


def committed(root: Path) -> tuple[str, list[str]]:
    """The last commit's subject and files."""
    files = git(root, "show", "--name-only", "--format=", "HEAD").splitlines()
    return git(root, "log", "-1", "--format=%s"), files


Case = tuple[str, str, Callable[[Twins], Any], Callable[[Twins], list[str]], int, list[str]]

CASES: list[Any] = [
    pytest.param(
        "POST", "/stacks", lambda t: MONITORING,
        lambda t: ["register-stack", t.document("stack.yaml", MONITORING)],
        201, ["stacks/custom-monitoring/stack.yaml"], id="register-stack",
    ),
    pytest.param(
        "POST", "/templates", lambda t: ML,
        lambda t: ["create-template", t.document("template.json", ML)],
        201, ["stacks/templates/custom-ml-platform.yaml"], id="create-template",
    ),
    pytest.param(
        "PUT", "/templates/minimal",
        lambda t: {"description": "Smaller", "version": "3.2"},
        lambda t: ["update-template", "minimal", "--description", "Smaller", "--version", "3.2"],
        200, ["stacks/templates/minimal.yaml"], id="update-template",
    ),
    pytest.param(
        "PUT", "/stacks/storage", lambda t: {"description": "Buckets", "estimatedDuration": 99},
        lambda t: ["update-stack", "storage", "--file",
                   t.document("patch.yaml", {"description": "Buckets", "estimatedDuration": 99})],
        200, ["stacks/storage/stack.yaml"], id="update-stack",
    ),
    pytest.param(
        "POST", "/deployments/D1BRV40/environments/stage/disable", lambda t: None,
        lambda t: ["disable-environment", "D1BRV40", "stage"],
        200, ["deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"], id="disable-environment",
    ),
    pytest.param(
        "POST", "/deployments/D1BRV40/environments/prod/enable", lambda t: None,
        lambda t: ["enable-environment", "D1BRV40", "prod"],
        200, ["deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"], id="enable-environment",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body", "argv", "status", "files"), CASES)
def test_a_cli_edit_is_the_endpoints_edit(
    twins: Twins, capsys, method, path, body, argv, status, files
) -> None:
    before = git(twins.cli, "rev-parse", "HEAD")
    code, reply = twins.request(method, path, body(twins))
    assert code == status, reply
    exit_code, data, err = twins.cloud(capsys, *argv(twins), "--commit", "--format", "json")
    assert exit_code == 0, err
    assert comparable(data) == comparable(reply["data"])
    assert data["change"]["mode"] == "commit"
    assert data["change"]["commit"] == git(twins.cli, "rev-parse", "HEAD") != before
    same_files(twins, *files)
    assert committed(twins.cli) == committed(twins.api)
    assert committed(twins.cli)[1] == files
    assert git(twins.cli, "status", "--porcelain") == ""
    assert main(["--root", str(twins.cli), "validate"]) == 0


def test_without_commit_the_files_are_written_and_nothing_is_committed(twins: Twins, capsys):
    head = git(twins.cli, "rev-parse", "HEAD")
    code, out, _ = twins.cloud(capsys, "register-stack", twins.document("s.yaml", MONITORING))
    assert code == 0
    assert "registered stack custom-monitoring: wrote stacks/custom-monitoring/stack.yaml" in out
    assert git(twins.cli, "rev-parse", "HEAD") == head
    assert git(twins.cli, "status", "--porcelain") == "?? stacks/custom-monitoring/"


def test_validate_template_is_the_endpoints_check(twins: Twins, capsys) -> None:
    broken = dict(ML, name="broken", stacks=["security", "storage"])  # security needs network
    (twins.api / "stacks/templates/broken.yaml").write_text(yaml.safe_dump(broken))
    (twins.cli / "stacks/templates/broken.yaml").write_text(yaml.safe_dump(broken))
    for name, valid in (("default", True), ("broken", False)):
        status, reply = twins.request("POST", f"/templates/{name}/validate")
        assert status == 200
        code, data, _ = twins.cloud(capsys, "validate-template", name, "--format", "json")
        assert data == reply["data"]
        assert data["valid"] is valid and code == (0 if valid else 1)
    assert {c["name"]: c["status"] for c in data["checks"]}["stack-definitions"] == "failed"
    code, out, _ = twins.cloud(capsys, "validate-template", "broken")
    assert code == 1 and "stacks/templates/broken.yaml" in out and "invalid" in out


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        pytest.param(
            ["unregister-stack", "network", "--engine", "simulate"],
            1,
            "stack 'network' is still used: templates:",
            id="in-use",
        ),
        pytest.param(
            ["unregister-stack", "nope", "--engine", "simulate"],
            2,
            "stack 'nope' not found",
            id="unknown",
        ),
        pytest.param(["delete-template", "default"], 1, "is built in", id="built-in"),
        pytest.param(
            ["enable-environment", "D1BRV40", "qa"],
            2,
            "environment 'qa' not found",
            id="unknown-environment",
        ),
        pytest.param(
            ["update-template", "minimal", "--stacks", "network,nope"],
            1,
            "VALIDATION_UNKNOWN_STACK",
            id="invalid-update",
        ),
    ],
)
def test_refused_edits_exit_non_zero_and_write_nothing(twins: Twins, capsys, argv, code, message):
    head = git(twins.cli, "rev-parse", "HEAD")
    exit_code, _, err = twins.cloud(capsys, *argv, "--commit")
    assert exit_code == code
    assert message in err
    assert git(twins.cli, "rev-parse", "HEAD") == head
    assert git(twins.cli, "status", "--porcelain") == ""


def test_a_deployed_stack_is_unregistered_only_with_force(
    twins: Twins, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    spare = dict(MONITORING, name="spare", dependencies=[])
    assert (
        twins.cloud(capsys, "register-stack", twins.document("s.yaml", spare), "--commit")[0] == 0
    )
    state = twins.cli / ".cloud" / "sim" / "D1BRV40" / "dev" / "spare.json"  # its state stayed
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"version": 3, "deployment": {"resources": []}}))
    assert SimulatedEngine(twins.cli / ".cloud" / "sim").list_instances("D1BRV40", "dev")
    code, _, err = twins.cloud(capsys, "unregister-stack", "spare", "--engine", "simulate")
    assert code == 1 and "still deployed in D1BRV40/dev" in err
    assert (twins.cli / "stacks/spare/stack.yaml").exists()
    code, out, _ = twins.cloud(
        capsys, "unregister-stack", "spare", "--engine", "simulate", "--force", "--commit"
    )
    assert code == 0 and "removed stacks/spare/stack.yaml" in out
    assert git(twins.cli, "log", "-1", "--format=%s") == "Unregister stack spare (forced)"


def test_the_api_refuses_to_unregister_a_deployed_stack_unless_forced(twins: Twins) -> None:
    spare = dict(MONITORING, name="spare", dependencies=[])
    assert twins.request("POST", "/stacks", spare)[0] == 201
    twins.harness.inventory.active = {("D1BRV40", "dev"): ["spare"]}
    status, reply = twins.request("DELETE", "/stacks/spare")
    assert status == 409
    assert reply["error"]["details"] == {"deployedIn": ["D1BRV40/dev"]}
    status, reply = twins.request("DELETE", "/stacks/spare?force=true")
    assert status == 200, reply


def test_disable_with_destroy_resources_plans_the_destroy(twins: Twins, capsys) -> None:
    simulated = twins.cli / ".cloud" / "sim" / "D1BRV40" / "stage"
    simulated.mkdir(parents=True)
    for name in ("network", "security", "storage"):
        (simulated / f"{name}.json").write_text(json.dumps({"version": 3, "deployment": {}}))
    code, data, err = twins.cloud(
        capsys,
        "disable-environment",
        "D1BRV40",
        "stage",
        "--destroy-resources",
        "--engine",
        "simulate",
        "--format",
        "json",
    )
    assert code == 0, err
    assert data["enabled"] is False and data["change"]["mode"] == "files"
    plan = data["destroyPlan"]
    assert plan["layers"][0] == ["storage"] and plan["layers"][-1] == ["network"]
    assert plan["command"] == "cloud destroy D1BRV40 -e stage --yes"
    assert plan["simulated"] is True
    assert sorted(p.stem for p in simulated.glob("*.json")) == ["network", "security", "storage"]


@pytest.mark.parametrize(
    ("path", "argv"),
    [
        pytest.param("/templates", ["list-templates"], id="list-templates"),
        pytest.param("/templates/minimal", ["show-template", "minimal"], id="show-template"),
        pytest.param("/templates/default", ["show-template", "default"], id="show-default"),
    ],
)
def test_the_template_reads_are_the_endpoints_reads(twins: Twins, capsys, path, argv) -> None:
    status, reply = twins.request("GET", path)
    assert status == 200
    code, data, _ = twins.cloud(capsys, *argv, "--format", "json")
    assert code == 0 and data == reply["data"]


def test_unregister_stack_is_the_endpoints_unregister(twins: Twins, capsys) -> None:
    spare = dict(MONITORING, name="spare", dependencies=[])
    assert twins.request("POST", "/stacks", spare)[0] == 201
    assert (
        twins.cloud(capsys, "register-stack", twins.document("s.yaml", spare), "--commit")[0] == 0
    )
    status, reply = twins.request("DELETE", "/stacks/spare")
    assert status == 200, reply
    code, data, err = twins.cloud(
        capsys, "unregister-stack", "spare", "--engine", "simulate", "--commit", "--format", "json"
    )
    assert code == 0, err
    assert comparable(data) == comparable(reply["data"])
    same_files(twins, "stacks/spare/stack.yaml")
    assert not (twins.cli / "stacks/spare").exists()
    assert committed(twins.cli) == committed(twins.api)
