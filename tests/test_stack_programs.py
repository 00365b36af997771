"""Every stack program, run for real under Pulumi's mock runtime, does what its definition says.

Each program runs in its own interpreter (Pulumi's runtime state is process-wide), with its
defaults plus a made-up value for every required key, as the controller would pass them.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from controller.core.catalog import load_snapshot
from controller.core.configs import matches_type
from controller.core.models import ConfigSpec, StackDefinition
from controller.engines.mock_runtime import ProgramRequest, ProgramResult, run_program
from tests.conftest import REPO_ROOT

STACKS = sorted(p.parent.name for p in (REPO_ROOT / "stacks").glob("*/stack.yaml"))


def fake_value(key: str, spec: ConfigSpec):
    samples = {
        "string": f"fake-{key}",
        "integer": int(spec.min) if spec.min is not None else 1,
        "number": spec.min if spec.min is not None else 1.5,
        "boolean": True,
        "array": [f"fake-{key}-1", f"fake-{key}-2"],
        "object": {},
    }
    return spec.enum[0] if spec.enum else samples[spec.type]


def request_for(definition: StackDefinition) -> ProgramRequest:
    config = {}
    for key, spec in definition.configuration.items():
        value = spec.default if spec.has_default else fake_value(key, spec)
        config[f"{definition.name}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    context = {
        "deploymentId": "D1BRV40",
        "environment": "dev",
        "organization": "CompanyA",
        "project": "ecommerce",
        "domain": "ecommerce.example.com",
        "region": "us-east-1",
        "account": "111111111111",
        "tags": json.dumps({"CostCenter": "CC-1234"}),
    }
    config |= {f"cloud:{key}": value for key, value in context.items()}
    config["aws:region"] = "us-east-1"
    secret_keys = [
        f"{definition.name}:{k}" for k, s in definition.configuration.items() if s.secret
    ]
    return ProgramRequest(
        program_dir=str(REPO_ROOT / "stacks" / definition.name),
        project=definition.name,
        stack=f"D1BRV40-{definition.name}-dev",
        config=config,
        secret_keys=secret_keys,
    )


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[StackDefinition, ProgramResult]]:
    files = {
        f"stacks/{name}/stack.yaml": (REPO_ROOT / "stacks" / name / "stack.yaml").read_text()
        for name in STACKS
    }
    catalog = load_snapshot(files).catalog
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(
            zip(
                STACKS,
                pool.map(lambda n: run_program(request_for(catalog.stacks[n])), STACKS),
                strict=True,
            )
        )
    return {name: (catalog.stacks[name], results[name]) for name in STACKS}


def test_the_catalog_has_the_sixteen_stacks_of_the_default_template():
    assert len(STACKS) == 16


@pytest.mark.parametrize("stack", STACKS)
def test_program_registers_resources_and_exports_its_declared_outputs(runs, stack):
    definition, result = runs[stack]
    assert result.error is None, result.error
    assert result.resources, "the program registered no resource"
    assert set(result.outputs) == set(definition.outputs)
    for name, spec in definition.outputs.items():
        assert matches_type(result.outputs[name], spec.type), (name, result.outputs[name])
        assert (name in result.secret_outputs) == spec.secret, name


@pytest.mark.parametrize("stack", STACKS)
def test_program_tags_what_it_creates_with_the_deployment(runs, stack):
    _, result = runs[stack]
    tagged = [r for r in result.resources if "tags" in r.inputs]
    assert tagged, "no resource carries tags"
    for resource in tagged:
        assert resource.inputs["tags"]["DeploymentId"] == "D1BRV40", resource.urn
        assert resource.inputs["tags"]["Stack"] == stack, resource.urn


def test_a_program_that_raises_is_reported_with_its_line(tmp_path):
    (tmp_path / "__main__.py").write_text("import pulumi\n\nraise ValueError('boom')\n")
    result = run_program(
        ProgramRequest(program_dir=str(tmp_path), project="x", stack="s", config={})
    )
    assert result.error == "ValueError: boom (at __main__.py line 3)"


def test_secret_config_is_kept_only_as_a_hash(tmp_path):
    (tmp_path / "__main__.py").write_text(
        "import pulumi, pulumi_aws as aws\n"
        "value = pulumi.Config().require_secret('token')\n"
        "aws.ssm.Parameter('p', type='SecureString', value=value)\n"
        "pulumi.export('token', value)\n"
    )
    result = run_program(
        ProgramRequest(
            program_dir=str(tmp_path),
            project="x",
            stack="s",
            config={"x:token": "hunter2"},
            secret_keys=["x:token"],
        )
    )
    assert result.error is None
    assert "hunter2" not in json.dumps([r.inputs for r in result.resources])
    assert result.secret_outputs == ["token"]
