"""Names and ids are checked whole, by one validator, at every entry point."""

from __future__ import annotations

import pytest

from controller.action.commands import run_action
from controller.cli.main import main
from controller.core.models import Manifest
from controller.core.names import NAMES, is_name, name_problem
from tests.conftest import REPO_ROOT

GOOD = {
    "deployment_id": "D1BRV40",
    "account_id": "111111111111",
    "environment_name": "dev",
    "stack_name": "network",
    "config_key": "vpcCidr",
    "organization": "CompanyA",
    "project": "shop",
    "region": "us-east-1",
    "domain": "shop.example.com",
    "email": "ops@example.com",
    "key_id": "key-0123456789abcdef",
    "operation_id": "op-0123ab",
    "secret_name": "DB_PASSWORD",
    "role_arn": "arn:aws:iam::111111111111:role/cloud-deploy",
}


def test_every_kind_of_name_has_an_example() -> None:
    assert set(GOOD) == set(NAMES)


@pytest.mark.parametrize("kind", sorted(GOOD))
def test_a_name_is_accepted_whole_and_refused_with_a_trailing_newline(kind: str) -> None:
    value = GOOD[kind]
    assert is_name(kind, value) and name_problem(kind, value) is None
    for spoiled in (value + "\n", value + "\r\n", "\n" + value, value + " "):
        assert not is_name(kind, spoiled), (kind, spoiled)
        assert name_problem(kind, spoiled) == NAMES[kind][1]


def test_a_manifest_with_a_newline_in_a_name_does_not_load() -> None:
    data = {
        "version": "3.1",
        "deploymentId": "D1BRV40",
        "organization": "CompanyA",
        "project": "shop\n",
        "template": "minimal",
        "region": "us-east-1",
        "environments": {"dev\n": {"enabled": True}},
    }
    with pytest.raises(ValueError) as caught:
        Manifest.model_validate(data)
    text = str(caught.value)
    assert "project must be" in text and "environment name must be" in text


def test_the_cli_refuses_an_environment_with_a_trailing_newline(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--root", str(REPO_ROOT), "layers", "D1BRV40", "-e", "dev\n"])
    assert exited.value.code == 2
    assert "environment name must be" in capsys.readouterr().err


def test_the_action_refuses_a_stack_input_that_is_not_a_name(capsys, tmp_path) -> None:
    code = run_action(
        {
            "CLOUD_COMMAND": "run-environments",
            "CLOUD_ROOT": str(REPO_ROOT),
            "CLOUD_ENVIRONMENTS": "D1BRV40/dev",
            "CLOUD_ENVIRONMENT": "dev",
            "CLOUD_STACK": "../../etc",
            "CLOUD_WORK_DIR": str(tmp_path),
        }
    )
    assert code == 2
    assert "input stack: stack name must be" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
    code = run_action(
        {
            "CLOUD_COMMAND": "run-environments",
            "CLOUD_ROOT": str(REPO_ROOT),
            "CLOUD_ENVIRONMENTS": "D1BRV40/dev,D1BRV40/../x",
            "CLOUD_WORK_DIR": str(tmp_path),
        }
    )
    assert code == 2
    assert "input environments: environment name must be" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []
