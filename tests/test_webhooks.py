from __future__ import annotations

import copy
import json

import pytest

from controller.core.webhooks import (
    map_workflow_job,
    map_workflow_run,
    operation_id_of,
    parse_job_name,
    sign,
    verify_signature,
)
from tests.conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests/fixtures/github"
RUN = json.loads((FIXTURES / "workflow_run.json").read_text())
JOB = json.loads((FIXTURES / "workflow_job.json").read_text())
SECRET = b"It's a Secret to Everybody"


def test_the_signature_of_githubs_documented_example():
    # GitHub's docs: secret "It's a Secret to Everybody", payload "Hello, World!"
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_signature(SECRET, b"Hello, World!", header)
    assert sign(SECRET, b"Hello, World!") == header


@pytest.mark.parametrize(
    ("secret", "body", "header"),
    [
        pytest.param(SECRET, b"Hello, World!!", None, id="no-header"),
        pytest.param(SECRET, b"Hello, World!!", sign(SECRET, b"Hello, World!"), id="tampered"),
        pytest.param(b"other", b"Hello, World!", sign(SECRET, b"Hello, World!"), id="wrong-key"),
        pytest.param(
            SECRET,
            b"Hello, World!",
            "sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59",
            id="sha1-refused",
        ),
        pytest.param(b"", b"x", sign(b"", b"x"), id="no-secret-configured"),
    ],
)
def test_anything_else_is_rejected(secret, body, header):
    assert not verify_signature(secret, body, header)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deploy D1BRV40 dev [op-3f2a9c1b7d4e]", "op-3f2a9c1b7d4e"),
        ("destroy D1BRV40 dev [op-00aa11bb22cc]", "op-00aa11bb22cc"),
        ("deploy changed deployments 0f3c6d5e", None),
        (None, None),
    ],
)
def test_operation_ids_come_from_the_run_name(name, expected):
    assert operation_id_of(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("deploy D1BRV40 / dev", ("deploy", "D1BRV40", "dev")),
        ("destroy / destroy D2K7Q1M / prod", ("destroy", "D2K7Q1M", "prod")),
        ("plan", None),
        ("remove D1BRV40 / dev", None),
        ("deploy dev x2: D1BRV40, D2K7Q1M", None),  # a packed shard: never an operation's
        ("deploy network (dev)", None),  # the old per-stack job
    ],
)
def test_environment_jobs_are_recognised_by_name(name, expected):
    assert parse_job_name(name) == expected


def test_a_completed_run_maps_to_its_operation():
    update = map_workflow_run(RUN)
    assert (update.operation_id, update.run_id, update.state) == (
        "op-3f2a9c1b7d4e",
        9100000001,
        "success",
    )


@pytest.mark.parametrize(
    ("status", "conclusion", "state"),
    [
        ("queued", None, "queued"),
        ("in_progress", None, "in_progress"),
        ("completed", "failure", "failed"),
        ("completed", "timed_out", "failed"),
        ("completed", "cancelled", "cancelled"),
    ],
)
def test_run_states(status, conclusion, state):
    payload = copy.deepcopy(RUN)
    payload["workflow_run"].update(status=status, conclusion=conclusion)
    assert map_workflow_run(payload).state == state


def test_runs_that_are_not_ours_are_ignored():
    payload = copy.deepcopy(RUN)
    payload["workflow_run"]["display_title"] = "ci"
    assert map_workflow_run(payload) is None


def test_an_environment_job_maps_to_its_deployment_environment():
    update = map_workflow_job(JOB)
    assert (update.run_id, update.deployment_id, update.environment, update.state) == (
        9100000001,
        "D1BRV40",
        "dev",
        "succeeded",
    )
    assert update.completed_at == "2026-11-27T10:04:55Z"


def test_jobs_that_are_not_environment_jobs_are_ignored():
    payload = copy.deepcopy(JOB)
    payload["workflow_job"]["name"] = "plan"
    assert map_workflow_job(payload) is None
