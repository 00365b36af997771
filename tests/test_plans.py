"""`cloud plan --base` on this repo's catalog and deployments, change by change: the plan
selects what can change what `pulumi up` does, and nothing else (the defects of issue 12,
measured on the format 1 fingerprints, are the first tests here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from controller.adapters.cache_files import plan_index_file
from controller.adapters.git_refs import resolve_ref
from controller.adapters.git_repo import GitRepo
from controller.adapters.local_repo import LocalRepo
from controller.cli.main import main
from controller.cli.quick_plan import quick_plan
from controller.core.blobs import blob_id
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
            "stacks/requirements.lock",
            "pulumi==3.272.0 \\\n",
            "# the SDK\npulumi==3.272.0 \\\n",
            id="pin-file-comment",
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
    edit(checkout, "stacks/requirements.lock", "pulumi-aws==7.51.1", "pulumi-aws==7.52.0")
    document = plan(capsys, checkout)
    assert len(selected(document)) == 16 * 2 + 13 * 2  # every instance installs it
    assert set(reasons(document).values()) == {"pulumi-aws 7.51.1 → 7.52.0"}


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


def _format_1_record(checkout: Path, deployment: str, environment: str, stack: str) -> dict:
    """The record format 1 wrote for an instance deployed from this tree before the
    upgrade (its stack definitions without `reads`), by format 1's algorithm."""
    from controller.core.catalog import load_snapshot
    from controller.core.environments import environment_view
    from controller.core.legacy_fingerprints import legacy_fingerprint_view

    ids = {}
    for path in sorted((checkout / "stacks").rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            if path.name == "stack.yaml":  # as it was: no reads line
                data = b"".join(
                    line for line in data.splitlines(True) if not line.startswith(b"reads:")
                )
            ids[path.relative_to(checkout).as_posix()] = blob_id(data)
    snapshot = load_snapshot(LocalRepo(checkout).catalog_files())
    view = environment_view(snapshot.deployments[deployment], snapshot.catalog, environment)
    fingerprint = legacy_fingerprint_view(view, ids)[stack]
    return {
        "fingerprint": fingerprint.value,
        "components": fingerprint.components,
        "consumed": {},
        "deployed_at": "2026-01-01T00:00:00Z",
        "commit": None,
        "operation_id": "op-format-1",
    }


def test_an_upgrade_from_format_1_records_redeploys_nothing(capsys, checkout):
    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["--root", str(checkout), *argv, "--engine", "simulate"])
        out, err = capsys.readouterr()
        return code, out, err

    def network() -> dict:
        code, out, err = run("plan", "--deployment", "D2K7Q1M", "-e", "dev", "--format", "json")
        assert code == 0, err
        entries = json.loads(out)["environments"][0]["entries"]
        return next(e for e in entries if e["stack"] == "network")

    assert run("deploy", "D2K7Q1M", "-e", "dev", "--stacks", "network")[0] == 0
    state_file = checkout / ".cloud/sim/D2K7Q1M/dev/network.json"
    state = json.loads(state_file.read_text())
    root = next(r for r in state["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    root["outputs"]["__cloudRecord"] = _format_1_record(checkout, "D2K7Q1M", "dev", "network")
    state_file.write_text(json.dumps(state))

    entry = network()
    assert entry["status"] == "skipped"
    assert "compared by its format 1 fingerprint" in entry["reason"]

    edit(checkout, D2, "vpcCidr: 10.20.0.0/16", "vpcCidr: 10.21.0.0/16")
    entry = network()
    assert (entry["status"], entry["reason"]) == ("changed", "config key vpcCidr changed")
    assert run("deploy", "D2K7Q1M", "-e", "dev", "--stacks", "network")[0] == 0
    record = json.loads(state_file.read_text())["deployment"]["resources"]
    record = next(r for r in record if r["type"] == "pulumi:pulumi:Stack")["outputs"]
    assert record["__cloudRecord"]["format"] == 2  # rewritten by the deploy
    assert record["__cloudRecord"]["values"]["config"]["vpcCidr"] == "10.21.0.0/16"
    assert network()["reason"].startswith("unchanged since last deploy")


def test_a_cached_plan_is_the_plan_made_without_caches(capsys, checkout, monkeypatch):
    edit(checkout, D1, "instanceClass: db.t3.small", "instanceClass: db.t3.large")
    edit(checkout, "stacks/dns/__main__.py", "ttl=3600", "ttl=300")
    first = plan(capsys, checkout)  # builds the caches
    again = plan(capsys, checkout)  # from them
    for cache in (checkout / ".cloud/cache").glob("plan-index-*.json"):
        cache.write_text("{not json")  # a corrupt cache is rebuilt, never trusted
    corrupt = plan(capsys, checkout)
    monkeypatch.setenv("CLOUD_CACHE", "off")
    uncached = plan(capsys, checkout)
    assert first == again == corrupt == uncached
    assert ("D1BRV40", "dev", "database-rds") in selected(first)
    assert ("D2K7Q1M", "prod", "dns") in selected(first)


def test_the_quick_answer_for_nothing_changed_is_the_full_plan_s(capsys, checkout, monkeypatch):
    argv = ["--root", str(checkout), "plan", "--base", "HEAD"]

    def full(*extra: str) -> str:
        monkeypatch.setenv("CLOUD_CACHE", "off")  # no index: no quick answer either
        code = main([*argv, *extra])
        monkeypatch.delenv("CLOUD_CACHE")
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    assert quick_plan(argv).code is None  # nothing indexed yet
    assert main(argv) == 0  # the full plan indexes the tree and finds it valid
    capsys.readouterr()
    for extra in ((), ("-e", "dev"), ("-e", "prod")):
        assert quick_plan([*argv, *extra]).code == 0
        assert capsys.readouterr().out == full(*extra)
    assert full() == "4 environment(s) with nothing to run (58 instances unchanged)\n"

    # anything it cannot vouch for goes to the full plan
    index = checkout / plan_index_file()
    made = json.loads(index.read_text())
    index.write_text(json.dumps({**made, "code": "another version of cloud"}))
    assert quick_plan(argv).code is None  # what other code found is not trusted
    index.write_text(json.dumps(made))
    assert quick_plan([*argv, "--format", "json"]).code is None
    assert quick_plan([*argv, "--verbose"]).code is None
    assert quick_plan([*argv, "-e", "qa"]).code is None  # the full plan says who has no qa
    edit(checkout, D1, "# Deployment", "# The deployment")
    assert quick_plan(argv).code is None  # a manifest differs from the base
    git(checkout, "commit", "-qam", "comment")
    assert quick_plan(argv).code is None  # a tree no full plan has found valid


def test_refs_are_read_from_the_git_folder_as_git_reads_them(checkout):
    head = git(checkout, "rev-parse", "HEAD")
    assert resolve_ref(str(checkout), "HEAD") == head
    assert resolve_ref(str(checkout), "main") == head
    git(checkout, "branch", "feature")
    git(checkout, "pack-refs", "--all")
    assert resolve_ref(str(checkout), "feature") == head  # from packed-refs
    assert resolve_ref(str(checkout), "refs/heads/feature") == head
    git(checkout, "tag", "-a", "v1", "-m", "v1")
    assert resolve_ref(str(checkout), "v1") is None  # an annotated tag: git peels it
    assert resolve_ref(str(checkout), "HEAD~1") is None
    assert resolve_ref(str(checkout), "no-such-branch") is None
    assert GitRepo(checkout).resolve("v1") == head  # git answers what the files cannot
