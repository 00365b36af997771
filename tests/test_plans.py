"""`cloud plan --base` on this repo's catalog and deployments, change by change: the plan
selects what can change what `pulumi up` does, and nothing else (the defects of issue 12,
measured on the format 1 fingerprints, are the first tests here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.cli.main import main
from tests.conftest import git

D1 = "deployments/D1BRV40-CompanyA-ecommerce/manifest.yaml"
D2 = "deployments/D2K7Q1M-CompanyB-payments/manifest.yaml"


def plan(capsys, root: Path) -> dict:
    code = main(["--root", str(root), "plan", "--base", "HEAD", "--format", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def selected(document: dict) -> set[tuple[str, str, str]]:
    return {
        (entry["deploymentId"], entry["environment"], entry["stack"])
        for env in document["environments"]
        for entry in env["entries"]
        if entry["status"] in ("new", "changed")
    }


def reasons(document: dict) -> dict[tuple[str, str, str], str]:
    return {
        (entry["deploymentId"], entry["environment"], entry["stack"]): entry["reason"]
        for env in document["environments"]
        for entry in env["entries"]
        if entry["status"] in ("new", "changed")
    }


def edit(root: Path, path: str, old: str, new: str) -> None:
    file = root / path
    text = file.read_text()
    assert old in text, f"{old!r} not in {path}"
    file.write_text(text.replace(old, new, 1))


def test_a_domain_change_reruns_only_the_stack_that_reads_it(capsys, checkout):
    edit(checkout, D1, "domain: ecommerce.companya.com", "domain: shop.companya.com")
    document = plan(capsys, checkout)
    assert selected(document) == {("D1BRV40", "dev", "dns"), ("D1BRV40", "stage", "dns")}
    assert reasons(document)[("D1BRV40", "dev", "dns")] == (
        "deployment setting domain changed: ecommerce.companya.com → shop.companya.com"
    )


def test_renaming_a_project_reruns_nothing(capsys, checkout):
    old, new = checkout / "deployments/D1BRV40-CompanyA-ecommerce", "D1BRV40-CompanyA-shop"
    edit(checkout, D1, "project: ecommerce", "project: shop")
    shutil.move(old, old.with_name(new))
    document = plan(capsys, checkout)
    assert selected(document) == set()
    assert all(not env["removals"] for env in document["environments"])


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        pytest.param(
            "stacks/storage/stack.yaml", "name: storage\n", "name: storage  # S3\n", id="definition"
        ),
        pytest.param(
            "stacks/requirements.txt", "pulumi>=", "# the SDK\npulumi>=", id="pin-file-comment"
        ),
        pytest.param(D1, "version:", "# reviewed\nversion:", id="manifest-comment"),
    ],
)
def test_a_comment_reruns_nothing(capsys, checkout, path, old, new):
    edit(checkout, path, old, new)
    assert selected(plan(capsys, checkout)) == set()


def test_a_changed_default_skips_the_deployments_that_override_it(capsys, checkout):
    edit(
        checkout,
        "stacks/database-rds/stack.yaml",
        "default: db.t3.micro",
        "default: db.t4g.micro",
    )
    document = plan(capsys, checkout)
    # D1BRV40 sets instanceClass itself; D2K7Q1M takes the default
    assert selected(document) == {
        ("D2K7Q1M", "dev", "database-rds"),
        ("D2K7Q1M", "prod", "database-rds"),
    }
    assert reasons(document)[("D2K7Q1M", "dev", "database-rds")] == (
        "config key instanceClass changed: db.t3.micro → db.t4g.micro"
    )


def test_a_provider_bump_names_the_package_and_its_versions(capsys, checkout):
    edit(checkout, "stacks/requirements.txt", "pulumi-aws>=6.50,<8", "pulumi-aws>=6.60,<8")
    document = plan(capsys, checkout)
    assert len(selected(document)) == 16 * 2 + 13 * 2  # every instance installs it
    assert set(reasons(document).values()) == {"pulumi-aws <8,>=6.50 → <8,>=6.60"}


def test_an_environment_override_equal_to_the_inherited_value_reruns_nothing(capsys, checkout):
    edit(
        checkout,
        D2,
        "      desiredCount: 1\n    environments:\n      prod:\n        config:\n",
        "      desiredCount: 1\n    environments:\n      dev:\n        config:\n"
        "          desiredCount: 1\n      prod:\n        config:\n",
    )
    assert selected(plan(capsys, checkout)) == set()


def test_the_base_must_be_a_commit(capsys, checkout):
    git(checkout, "tag", "base")
    code = main(["--root", str(checkout), "plan", "--base", "no-such-ref"])
    assert code == 2
    assert "--base no-such-ref" in capsys.readouterr().err


def test_plan_against_the_backend_lists_what_is_no_longer_wanted(capsys, checkout):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--root", str(checkout), *argv, "--engine", "simulate"])
        out, err = capsys.readouterr()
        return code, out, err

    def removals() -> dict[tuple[str, str, str], dict]:
        code, out, err = run("plan", "--format", "json")
        assert code == 0, err
        return {
            (env["deploymentId"], env["environment"], r["stack"]): r
            for env in json.loads(out)["environments"]
            for r in env["removals"]
        }

    for environment in ("dev", "prod"):
        code, _, err = run("deploy", "D2K7Q1M", "-e", environment, "--stacks", "network")
        assert code == 0, err
    assert removals() == {}

    edit(checkout, D2, "  prod:\n    enabled: true", "  prod:\n    enabled: false")
    found = removals()
    assert set(found) == {("D2K7Q1M", "prod", "network")}
    assert found["D2K7Q1M", "prod", "network"]["reason"] == "environment prod is disabled"
    assert "aws:ec2/vpc:Vpc vpc" in found["D2K7Q1M", "prod", "network"]["resources"]

    code, _, err = run("deploy", "D2K7Q1M", "-e", "prod")
    assert code == 2
    assert "1 stack(s) still hold state there: network" in err and "--remove" in err
    code, out, err = run("deploy", "D2K7Q1M", "-e", "prod", "--remove", "--format", "json")
    assert code == 0, err
    assert {s["stack"]: s["status"] for s in json.loads(out)["stacks"]} == {"network": "succeeded"}
    assert removals() == {}

    shutil.rmtree(checkout / "deployments/D2K7Q1M-CompanyB-payments")
    assert set(removals()) == {("D2K7Q1M", "dev", "network")}
    assert removals()["D2K7Q1M", "dev", "network"]["reason"] == "deployment removed from the repo"
