"""The foundation commands, run as a new user would: on this repo, and on broken copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli.main import main
from tests.conftest import REPO_ROOT

D1 = "deployments/D1BRV40-CompanyA-ecommerce"


def run(capsys, *argv: str, root: Path = REPO_ROOT) -> tuple[int, str, str]:
    code = main(["--root", str(root), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_passes_on_this_repo(capsys):
    code, out, err = run(capsys, "validate")
    assert (code, err) == (0, "")
    assert "ok" in out


def edit(root: Path, relative: str, old: str, new: str) -> int:
    """Replace text in a file and return the 1-based line where the new text starts."""
    path = root / relative
    text = path.read_text()
    assert old in text, f"{old!r} not in {relative}"
    text = text.replace(old, new, 1)
    path.write_text(text)
    return text[: text.index(new)].count("\n") + 1


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        pytest.param(
            "organization: CompanyA",
            "organizaton: CompanyA",
            "VALIDATION_UNKNOWN_FIELD",
            id="typo-key",
        ),
        pytest.param(
            'dev: "111111111111"',
            'dev: "11111111111"',
            "VALIDATION_INVALID_ACCOUNT_ID",
            id="account-11-digits",
        ),
        pytest.param(
            "shop.{{RUNTIME:dns:",
            "shop.{{RUNTIME:dnss:",
            "VALIDATION_UNRESOLVABLE_PLACEHOLDER",
            id="placeholder-unknown-stack",
        ),
        pytest.param(
            "  network:\n    config:",
            "  network:\n    dependencies: [monitoring]\n    config:",
            "VALIDATION_CIRCULAR_DEPENDENCY",
            id="cycle",
        ),
        pytest.param(
            "project: ecommerce",
            "project: [ecommerce",
            "VALIDATION_YAML_SYNTAX",
            id="malformed-yaml",
        ),
    ],
)
def test_validate_names_file_and_line_of_each_mistake(capsys, repo_copy, old, new, code):
    manifest = f"{D1}/manifest.yaml"
    line = edit(repo_copy, manifest, old, new)
    status, _, err = run(capsys, "validate", root=repo_copy)
    assert status == 1
    lines = [entry for entry in err.splitlines() if code in entry]
    assert lines, err
    location = lines[0].split(": ", 1)[0]
    assert location.startswith(f"{manifest}:")
    assert line <= int(location.rsplit(":", 1)[1]) <= line + new.count("\n")


def test_placeholder_to_an_undeclared_output(capsys, repo_copy):
    manifest = repo_copy / D1 / "manifest.yaml"
    text = manifest.read_text()
    start = text.index("{{RUNTIME:", text.index("\nstacks:"))
    end = text.index("}}", start)
    stack = text[start:end].split(":")[1]
    line = edit(
        repo_copy,
        f"{D1}/manifest.yaml",
        text[start : end + 2],
        f"{{{{RUNTIME:{stack}:noSuchOutput}}}}",
    )
    status, _, err = run(capsys, "validate", root=repo_copy)
    assert status == 1
    assert f"{D1}/manifest.yaml:{line}: error: VALIDATION_UNRESOLVABLE_PLACEHOLDER" in err
    assert "declares no output 'noSuchOutput'" in err


def test_alias_bomb_fails_fast_and_names_the_file(capsys, repo_copy):
    (repo_copy / D1 / "manifest.yaml").write_text(BOMB)
    status, _, err = run(capsys, "validate", root=repo_copy)
    assert status == 1
    assert f"{D1}/manifest.yaml:" in err
    assert "VALIDATION_YAML_TOO_COMPLEX" in err


def test_validate_prints_github_annotations_in_actions(capsys, repo_copy, monkeypatch):
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    line = edit(repo_copy, f"{D1}/manifest.yaml", 'dev: "111111111111"', 'dev: "1111"')
    status, out, _ = run(capsys, "validate", root=repo_copy)
    assert status == 1
    assert (
        f"::error file={D1}/manifest.yaml,line={line},title=VALIDATION_INVALID_ACCOUNT_ID::"
    ) in out


def test_validate_json_lists_problems(capsys, repo_copy):
    edit(repo_copy, f"{D1}/manifest.yaml", 'dev: "111111111111"', 'dev: "1111"')
    status, out, _ = run(capsys, "validate", "--format", "json", root=repo_copy)
    report = json.loads(out)
    assert status == 1 and report["valid"] is False
    assert report["problems"][0]["code"] == "VALIDATION_INVALID_ACCOUNT_ID"


def test_validate_a_single_deployment_ignores_problems_of_others(capsys, repo_copy):
    other = next(p for p in (repo_copy / "deployments").iterdir() if p.name not in D1)
    (other / "manifest.yaml").write_text("not: [valid\n")
    assert run(capsys, "validate", str(repo_copy / D1), root=repo_copy)[0] == 0
    assert run(capsys, "validate", root=repo_copy)[0] == 1


def test_layers_put_every_stack_after_its_dependencies(capsys):
    code, out, _ = run(capsys, "layers", D1, "--environment", "dev", "--format", "json")
    assert code == 0
    document = json.loads(out)
    position = {name: entry["layer"] for name, entry in document["stacks"].items()}
    assert len(position) == 16
    for name, entry in document["stacks"].items():
        for dependency in entry["dependencies"]:
            assert position[dependency] < position[name], (dependency, name)
    assert document["layers"][0]["stacks"] == ["network"]
    assert document["layers"][-1]["stacks"] == ["monitoring"]
    assert 4 <= len(document["layers"]) <= 8


def test_destroy_layers_are_the_reverse(capsys):
    deploy = json.loads(run(capsys, "layers", D1, "-e", "dev", "--format", "json")[1])
    destroy = json.loads(
        run(capsys, "layers", "D1BRV40", "-e", "dev", "--destroy", "--format", "json")[1]
    )
    assert [layer["stacks"] for layer in destroy["layers"]] == [
        layer["stacks"] for layer in reversed(deploy["layers"])
    ]
    assert destroy["operation"] == "destroy"


def test_layers_as_mermaid(capsys):
    code, out, _ = run(capsys, "layers", D1, "-e", "dev", "--format", "mermaid")
    assert code == 0
    assert out.startswith("%% D1BRV40 dev deploy\nflowchart LR\n")
    assert "s_network --> s_security" in out


def test_layers_of_an_unknown_environment_is_a_usage_error(capsys):
    code, _, err = run(capsys, "layers", D1, "-e", "qa")
    assert code == 2
    assert "has no environment 'qa'" in err


def test_layers_of_an_unknown_deployment_is_a_usage_error(capsys):
    assert run(capsys, "layers", "D9ZZZZZ", "-e", "dev")[0] == 2


def test_init_creates_a_valid_deployment(capsys, repo_copy):
    code, out, err = run(
        capsys,
        "init",
        "--organization",
        "Acme",
        "--project",
        "shop",
        "--template",
        "minimal",
        "--account",
        "dev=123456789012",
        "--format",
        "json",
        root=repo_copy,
    )
    assert code == 0, err
    created = json.loads(out)
    assert created["deploymentId"].startswith("D") and len(created["deploymentId"]) == 7
    manifest = repo_copy / created["manifest"]
    assert manifest.parent.name == f"{created['deploymentId']}-Acme-shop"
    assert "'123456789012'" in manifest.read_text()
    assert run(capsys, "validate", root=repo_copy)[0] == 0
    assert run(capsys, "layers", created["deploymentId"], "-e", "dev", root=repo_copy)[0] == 0


def test_init_with_a_bad_template_fails_and_creates_nothing(capsys, repo_copy):
    before = sorted(p.name for p in (repo_copy / "deployments").iterdir())
    code, _, err = run(
        capsys,
        "init",
        "--organization",
        "Acme",
        "--project",
        "shop",
        "--template",
        "minimall",
        "--account",
        "dev=123456789012",
        root=repo_copy,
    )
    assert code == 2
    assert "template 'minimall' does not exist (did you mean 'minimal'?)" in err
    assert sorted(p.name for p in (repo_copy / "deployments").iterdir()) == before


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--template", "minimal"], "need an AWS account id", id="no-account"),
        pytest.param(["--account", "dev=12"], "exactly 12 digits", id="bad-account"),
        pytest.param(["--account", "qa=123456789012"], "has no environment 'qa'", id="bad-env"),
        pytest.param(
            ["--account", "dev=123456789012", "--organization", "Acme Corp"],
            "organization must be",
            id="bad-organization",
        ),
    ],
)
def test_init_rejects_bad_arguments_and_creates_nothing(capsys, repo_copy, argv, message):
    before = sorted(p.name for p in (repo_copy / "deployments").iterdir())
    code, _, err = run(
        capsys, "init", "--organization", "Acme", "--project", "shop", *argv, root=repo_copy
    )
    assert code == 2
    assert message in err
    assert sorted(p.name for p in (repo_copy / "deployments").iterdir()) == before


def test_list_and_show_templates(capsys):
    listed = json.loads(run(capsys, "list-templates", "--format", "json")[1])
    assert {t["name"] for t in listed["templates"]} == {
        "default",
        "minimal",
        "microservices",
        "data-platform",
    }
    shown = json.loads(run(capsys, "show-template", "minimal", "--format", "json")[1])
    assert [s["name"] for s in shown["stacks"] if s["layer"] == 1] == ["network"]
    assert run(capsys, "show-template", "nope")[0] == 2


def test_list_and_show_stacks(capsys):
    listed = json.loads(run(capsys, "list-stacks", "--format", "json")[1])
    assert listed["total"] == 16
    network = json.loads(run(capsys, "show-stack", "network", "--format", "json")[1])
    assert "security" in network["dependents"]
    assert "default" in network["templates"]
    code, out, _ = run(capsys, "show-stack", "database-rds")
    assert code == 0 and "OUTPUT" in out


def test_schemas_are_up_to_date(capsys):
    code, _, err = run(capsys, "schemas", "--check")
    assert code == 0, err


def test_schemas_check_notices_a_stale_file(capsys, repo_copy):
    (repo_copy / "schemas").mkdir()
    (repo_copy / "schemas" / "manifest.schema.json").write_text("{}\n")
    code, _, err = run(capsys, "schemas", "--check", root=repo_copy)
    assert code == 1
    assert "schemas/manifest.schema.json" in err
    assert (repo_copy / "schemas" / "manifest.schema.json").read_text() == "{}\n"


def add_services_api_config(root: Path, config: str) -> None:
    manifest = root / D1 / "manifest.yaml"
    block = "  services-api:\n    config:\n"
    manifest.write_text(manifest.read_text().replace(block, block + config, 1))


def test_validate_warns_about_a_literal_in_a_secret_key_without_echoing_it(capsys, repo_copy):
    add_services_api_config(repo_copy, "      apiKeyValue: hunter2-in-clear\n")
    status, out, err = run(capsys, "validate", root=repo_copy)
    assert status == 0  # a warning: the deployment still validates
    assert f"{D1}/manifest.yaml:66: warning: VALIDATION_SECRET_IN_CLEAR" in out + err
    assert "{{SECRET:<name>}}" in out + err
    assert "hunter2-in-clear" not in out + err


def test_a_secret_reference_validates_and_a_malformed_one_does_not(capsys, repo_copy):
    add_services_api_config(repo_copy, "      apiKeyValue: '{{SECRET:ORIGIN_KEY}}'\n")
    status, out, err = run(capsys, "validate", root=repo_copy)
    assert (status, "SECRET_IN_CLEAR" in out + err) == (0, False)
    add_services_api_config(repo_copy, "      stageName: '{{ SECRET:ORIGIN_KEY }}'\n")
    status, _, err = run(capsys, "validate", root=repo_copy)
    assert status == 1 and "malformed secret reference" in err
