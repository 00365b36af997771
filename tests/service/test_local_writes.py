"""Writes in embedded mode: files in the local checkout, committed with git, all or nothing;
and nothing read or written outside the repo, whatever the path says."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controller.adapters.catalog_sources import LocalCatalogSource
from tests.conftest import git, refuse_commits
from tests.service.conftest import D1_FILE, NEW, NEW_FILE, Harness, HarnessFactory


def local(make_harness: HarnessFactory, root: Path, **options: object) -> Harness:
    return make_harness(source=LocalCatalogSource(root), repo_root=root, **options)


def test_a_create_is_one_commit_of_exactly_the_new_manifest(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    unrelated = checkout / "stacks" / "network" / "Pulumi.yaml"
    unrelated.write_text(unrelated.read_text() + "# local edit\n")
    harness = local(make_harness, checkout)
    before = git(checkout, "rev-parse", "HEAD")
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 201, response.text
    change = response.json()["data"]["change"]
    head = git(checkout, "rev-parse", "HEAD")
    assert change == {
        "mode": "commit",
        "commit": head,
        "branch": None,
        "pullRequestUrl": None,
        "pullRequestNumber": None,
    }
    assert git(checkout, "rev-parse", "HEAD^") == before
    assert git(checkout, "show", "--name-only", "--format=", "HEAD") == NEW_FILE
    assert git(checkout, "log", "-1", "--format=%an <%ae>") == "Admin <admin@example.com>"
    assert "Create deployment D0SHOP1" in git(checkout, "log", "-1", "--format=%s")
    assert git(checkout, "status", "--porcelain") == "M stacks/network/Pulumi.yaml"
    shown = harness.client.get("/api/v1/deployments/D0SHOP1", headers=harness.bearer())
    assert shown.json()["data"]["createdAt"] is not None


def test_an_invalid_write_leaves_the_checkout_untouched(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    harness = local(make_harness, checkout)
    admin = harness.bearer()
    before = (checkout / D1_FILE).read_text()
    manifest = yaml.safe_load(before)
    manifest["stacks"]["network"]["dependencies"] = ["security"]
    head = git(checkout, "rev-parse", "HEAD")
    response = harness.client.put(
        "/api/v1/deployments/D1BRV40/manifest", json=manifest, headers=admin
    )
    assert response.status_code == 422
    assert (checkout / D1_FILE).read_text() == before
    assert git(checkout, "rev-parse", "HEAD") == head
    assert git(checkout, "status", "--porcelain") == ""


def test_a_failing_commit_is_502_and_the_file_is_restored(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    refuse_commits(checkout)
    harness = local(make_harness, checkout)
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "REPOSITORY_ERROR"
    assert str(checkout) not in response.text
    assert not (checkout / NEW_FILE).exists()
    assert not (checkout / NEW_FILE).parent.exists()


def test_a_failing_commit_puts_back_the_index_as_it_was_staged_work_included(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    own = checkout / "stacks" / "network" / "Pulumi.yaml"
    own.write_text(own.read_text() + "# staged by hand\n")
    git(checkout, "add", "stacks/network/Pulumi.yaml")
    refuse_commits(checkout)
    harness = local(make_harness, checkout)
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 502
    assert git(checkout, "diff", "--cached", "--name-only") == "stacks/network/Pulumi.yaml"
    assert git(checkout, "status", "--porcelain") == "M  stacks/network/Pulumi.yaml"


def test_a_delete_removes_the_folder_in_one_commit(
    make_harness: HarnessFactory, checkout: Path
) -> None:
    harness = local(make_harness, checkout)
    response = harness.client.delete("/api/v1/deployments/D1BRV40", headers=harness.bearer())
    assert response.status_code == 200
    assert not (checkout / D1_FILE).parent.exists()
    assert git(checkout, "show", "--name-status", "--format=", "HEAD") == f"D\t{D1_FILE}"


def test_without_git_the_files_are_written_and_the_response_says_so(
    make_harness: HarnessFactory, repo_copy: Path
) -> None:
    harness = local(make_harness, repo_copy)
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 201
    assert response.json()["data"]["change"]["mode"] == "files"
    assert response.json()["data"]["change"]["commit"] is None
    assert (repo_copy / NEW_FILE).is_file()


def test_edits_made_on_disk_are_seen_without_a_restart(
    make_harness: HarnessFactory, repo_copy: Path
) -> None:
    harness = local(make_harness, repo_copy)
    admin = harness.bearer()
    assert harness.client.get("/api/v1/deployments/D1BRV40", headers=admin).is_success
    path = repo_copy / D1_FILE
    path.write_text(path.read_text().replace("CC-1234", "CC-9999"))
    shown = harness.client.get("/api/v1/deployments/D1BRV40", headers=admin)
    assert shown.json()["data"]["tags"]["CostCenter"] == "CC-9999"


def test_the_snapshot_is_not_reread_while_nothing_changes(harness: Harness, admin) -> None:
    for _ in range(5):
        harness.client.get("/api/v1/deployments", headers=admin)
    assert harness.source.reads == 1


# --- paths that try to leave the repo ---------------------------------------------------------

TRAVERSALS = [
    ("GET", "/api/v1/deployments/..%2F..%2Fetc"),
    ("GET", "/api/v1/deployments/../../etc"),
    ("GET", "/api/v1/deployments/..%2F..%2Foutside/manifest"),
    ("PUT", "/api/v1/deployments/..%2F..%2Foutside/manifest"),
    ("DELETE", "/api/v1/deployments/.."),
    ("GET", "/api/v1/stacks/..%2F..%2Fetc"),
    ("PUT", "/api/v1/stacks/..%2F..%2Foutside"),
    ("DELETE", "/api/v1/stacks/%2E%2E"),
    ("DELETE", "/api/v1/templates/..%2F..%2Foutside"),
    ("POST", "/api/v1/templates/..%2F..%2Foutside/validate"),
    ("POST", "/api/v1/deployments/D1BRV40/environments/..%2F..%2Fx/enable"),
]


@pytest.mark.parametrize(("method", "path"), TRAVERSALS)
def test_traversal_in_a_path_is_400_or_404_and_touches_nothing_outside(
    make_harness: HarnessFactory, checkout: Path, tmp_path: Path, method: str, path: str
) -> None:
    sentinel = tmp_path / "outside" / "manifest.yaml"
    sentinel.parent.mkdir()
    sentinel.write_text("untouched\n")
    harness = local(make_harness, checkout)
    body = {"description": "x"} if method in ("PUT", "POST") else None
    response = harness.client.request(method, path, json=body, headers=harness.bearer())
    assert response.status_code in (400, 404), response.text
    assert sentinel.read_text() == "untouched\n"
    assert {p.name for p in tmp_path.iterdir()} <= {"outside", "repo", ".cloud"}
    assert git(checkout, "status", "--porcelain") == ""


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/stacks", {"name": "../../etc", "displayName": "x", "category": "devops"}),
        (
            "/api/v1/templates",
            {
                "name": "../x",
                "displayName": "x",
                "stacks": ["network"],
                "environments": {"dev": {"region": "us-east-1"}},
            },
        ),
        ("/api/v1/deployments", NEW | {"project": "../../outside"}),
        ("/api/v1/deployments", NEW | {"organization": "../.."}),
    ],
)
def test_names_in_bodies_that_would_leave_the_repo_are_400(
    make_harness: HarnessFactory, checkout: Path, path: str, body: dict
) -> None:
    harness = local(make_harness, checkout)
    response = harness.client.post(path, json=body, headers=harness.bearer())
    assert response.status_code == 400, response.text
    assert git(checkout, "status", "--porcelain", "--untracked-files=all") == ""
