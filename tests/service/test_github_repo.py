"""The catalog on GitHub: read at the branch head through PyGithub, cached by commit sha,
written as a commit on the branch or as a branch and a pull request. GitHub is played by
`responses` with payloads shaped like the real API's (tests/fixtures/github)."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import responses
from github import Auth, Github

from controller.adapters.github_repo import GitHubCatalogSource
from controller.core.catalog import is_catalog_path
from controller.core.stack_files import blob_id
from tests.service.conftest import (
    D1_FILE,
    NEW,
    NEW_FILE,
    Harness,
    HarnessFactory,
    example_files,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github"
API = "https://api.github.com:443/repos/acme/platform"
HEAD = "a1" * 20
NEXT = "b2" * 20
NEW_COMMIT = "c3" * 20


def fixture(name: str, **values: str) -> dict[str, Any]:
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


class FakeGitHub:
    """Registers GitHub's endpoints for one repository whose files are `files`."""

    def __init__(self, mock: responses.RequestsMock, files: dict[str, str]) -> None:
        self.mock = mock
        self.files = dict(files)
        self.head = HEAD
        mock.get(API, json=fixture("repo.json"))
        mock.add_callback("GET", f"{API}/branches/main", callback=self._branch)
        mock.add_callback("GET", f"{API}/git/trees/{HEAD}", callback=self._tree)
        mock.add_callback("GET", f"{API}/git/trees/{NEXT}", callback=self._tree)
        for path in files:
            mock.add_callback("GET", f"{API}/contents/{path}", callback=self._contents)
        self.puts: list[dict[str, Any]] = []

    def _branch(self, request: Any) -> tuple[int, dict, str]:
        return 200, {}, json.dumps(fixture("branch.json", sha=self.head))

    def _tree(self, request: Any) -> tuple[int, dict, str]:
        entries = [
            {
                "path": path,
                "mode": "100644",
                "type": "blob",
                "sha": blob_id(text.encode()),
                "size": len(text),
                "url": f"https://api.github.com/repos/acme/platform/git/blobs/"
                f"{blob_id(text.encode())}",
            }
            for path, text in sorted(self.files.items())
        ]
        entries.append(
            {
                "path": "stacks/network/__main__.py",
                "mode": "100644",
                "type": "blob",
                "sha": "d4" * 20,
                "size": 10,
                "url": "https://api.github.com/x",
            }
        )
        body = {
            "sha": self.head,
            "url": f"https://api.github.com/repos/acme/platform/git/trees/{self.head}",
            "tree": entries,
            "truncated": False,
        }
        return 200, {}, json.dumps(body)

    def _contents(self, request: Any) -> tuple[int, dict, str]:
        path = request.path_url.split("/contents/", 1)[1].split("?", 1)[0]
        text = self.files[path]
        body = {
            "type": "file",
            "encoding": "base64",
            "size": len(text),
            "name": path.rsplit("/", 1)[-1],
            "path": path,
            "content": base64.b64encode(text.encode()).decode(),
            "sha": blob_id(text.encode()),
            "url": f"https://api.github.com/repos/acme/platform/contents/{path}",
            "git_url": "https://api.github.com/repos/acme/platform/git/blobs/x",
            "html_url": f"https://github.com/acme/platform/blob/main/{path}",
            "download_url": f"https://raw.githubusercontent.com/acme/platform/main/{path}",
        }
        return 200, {}, json.dumps(body)

    def accept_put(self, path: str, *, status: int = 201) -> None:
        def put(request: Any) -> tuple[int, dict, str]:
            body = json.loads(request.body)
            self.puts.append(body)
            if status >= 400:
                return status, {}, json.dumps({"message": "sha does not match", "status": status})
            reply = fixture(
                "contents_put.json",
                path=path,
                branch=body.get("branch", "main"),
                commit=NEW_COMMIT,
                parent=HEAD,
                message="commit",
            )
            return status, {}, json.dumps(reply)

        self.mock.add_callback("PUT", f"{API}/contents/{path}", callback=put)

    def content_calls(self) -> int:
        return sum(
            "/contents/" in call.request.url and call.request.method == "GET"
            for call in self.mock.calls
        )


@pytest.fixture
def github_api() -> Iterator[FakeGitHub]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        files = {p: t for p, t in example_files().items() if is_catalog_path(p)}
        yield FakeGitHub(mock, files)


def github_harness(
    make_harness: HarnessFactory, *, pr: bool = False, clock: list[float]
) -> Harness:
    client = Github(
        auth=Auth.Token("ghs_test"),
        retry=None,
        seconds_between_requests=None,
        seconds_between_writes=None,
    )
    source = GitHubCatalogSource(
        client, "acme/platform", pull_requests=pr, poll_seconds=30, monotonic=lambda: clock[0]
    )
    return make_harness(
        source=source,
        repo_backend="github",
        github_repository="acme/platform",
        github_token="ghs_test",
        write_mode="pr" if pr else "commit",
    )


def test_the_catalog_is_read_at_the_branch_head_and_cached_by_sha(
    make_harness: HarnessFactory, github_api: FakeGitHub
) -> None:
    clock = [0.0]
    harness = github_harness(make_harness, clock=clock)
    admin = harness.bearer()
    listing = harness.client.get("/api/v1/deployments", headers=admin).json()["data"]
    assert [d["deploymentId"] for d in listing["deployments"]] == ["D1BRV40", "D2K7Q1M"]
    fetched = github_api.content_calls()
    assert fetched == len(github_api.files)
    harness.client.get("/api/v1/deployments/D1BRV40", headers=admin)
    assert len(github_api.mock.calls) == fetched + 3  # repo, branch, tree: nothing more

    # a new commit that changes one manifest: one tree and one file are read
    github_api.files[D1_FILE] = github_api.files[D1_FILE].replace("CC-1234", "CC-4321")
    github_api.head = NEXT
    clock[0] = 31.0
    shown = harness.client.get("/api/v1/deployments/D1BRV40", headers=admin).json()["data"]
    assert shown["tags"]["CostCenter"] == "CC-4321"
    assert github_api.content_calls() == fetched + 1
    health = harness.client.get("/health").json()["data"]["services"]
    assert health["github"]["status"] == "healthy" and health["repo"]["revision"] == NEXT


def test_a_create_becomes_a_commit_on_the_branch(
    make_harness: HarnessFactory, github_api: FakeGitHub
) -> None:
    github_api.accept_put(NEW_FILE)
    harness = github_harness(make_harness, clock=[0.0])
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 201, response.text
    change = response.json()["data"]["change"]
    assert change["mode"] == "commit" and change["commit"] == NEW_COMMIT
    assert change["branch"] == "main"
    put = github_api.puts[0]
    assert put["branch"] == "main" and "sha" not in put  # a new file
    assert put["author"] == {"name": "Admin", "email": "admin@example.com"}
    assert "deploymentId: D0SHOP1" in base64.b64decode(put["content"]).decode()


def test_an_update_sends_the_blob_sha_it_replaces(
    make_harness: HarnessFactory, github_api: FakeGitHub
) -> None:
    github_api.accept_put(D1_FILE)
    harness = github_harness(make_harness, clock=[0.0])
    response = harness.client.put(
        "/api/v1/deployments/D1BRV40", json={"tags": {"Team": "web"}}, headers=harness.bearer()
    )
    assert response.status_code == 200, response.text
    assert github_api.puts[0]["sha"] == blob_id(github_api.files[D1_FILE].encode())


def test_in_pr_mode_a_create_is_a_branch_and_a_pull_request(
    make_harness: HarnessFactory, github_api: FakeGitHub
) -> None:
    created_refs: list[dict[str, Any]] = []

    def create_ref(request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        created_refs.append(body)
        branch = body["ref"].removeprefix("refs/heads/")
        return 201, {}, json.dumps(fixture("ref_created.json", branch=branch, sha=body["sha"]))

    def create_pull(request: Any) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        pull = fixture(
            "pull_created.json",
            title=body["title"],
            branch=body["head"],
            commit=NEW_COMMIT,
            parent=HEAD,
        )
        return 201, {}, json.dumps(pull)

    github_api.mock.add_callback("POST", f"{API}/git/refs", callback=create_ref)
    github_api.mock.add_callback("POST", f"{API}/pulls", callback=create_pull)
    github_api.accept_put(NEW_FILE)
    harness = github_harness(make_harness, pr=True, clock=[0.0])
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == 202, response.text
    change = response.json()["data"]["change"]
    assert change["mode"] == "pull-request"
    assert change["pullRequestUrl"] == "https://github.com/acme/platform/pull/42"
    assert change["pullRequestNumber"] == 42
    assert created_refs[0]["sha"] == HEAD
    assert change["branch"].startswith("cloud/create-deployment-d0shop1")
    assert github_api.puts[0]["branch"] == change["branch"]


@pytest.mark.parametrize(
    ("status", "expected", "code"),
    [(409, 409, "RESOURCE_CONFLICT"), (500, 502, "REPOSITORY_ERROR")],
)
def test_github_refusing_a_write_is_reported(
    make_harness: HarnessFactory, github_api: FakeGitHub, status: int, expected: int, code: str
) -> None:
    github_api.accept_put(NEW_FILE, status=status)
    harness = github_harness(make_harness, clock=[0.0])
    response = harness.client.post("/api/v1/deployments", json=NEW, headers=harness.bearer())
    assert response.status_code == expected
    assert response.json()["error"]["code"] == code
    assert "api.github.com" not in response.text


def test_the_stack_files_facts_come_from_git_blobs_each_fetched_once(
    github_api: FakeGitHub,
) -> None:
    program = 'import pulumi\ncloud = pulumi.Config("cloud")\ncloud.get("region")\n'
    fetched: list[str] = []

    def blob(request: Any) -> tuple[int, dict, str]:
        sha = request.path_url.rsplit("/", 1)[1]
        fetched.append(sha)
        text = program if sha == "d4" * 20 else github_api.files_by_blob[sha]
        body = {
            "sha": sha,
            "size": len(text),
            "url": f"https://api.github.com/repos/acme/platform/git/blobs/{sha}",
            "content": base64.b64encode(text.encode()).decode(),
            "encoding": "base64",
        }
        return 200, {}, json.dumps(body)

    github_api.files_by_blob = {blob_id(t.encode()): t for t in github_api.files.values()}
    github_api.mock.add_callback(
        "GET", re.compile(f"{re.escape(API)}/git/blobs/[0-9a-f]+"), callback=blob
    )
    client = Github(auth=Auth.Token("ghs_test"), retry=None, seconds_between_requests=None)
    source = GitHubCatalogSource(client, "acme/platform", poll_seconds=30, monotonic=lambda: 0.0)

    files = source.stack_file_ids()
    facts = files.facts["stacks/network/__main__.py"]
    assert facts.kind == "python" and facts.meaning.startswith("ast:")
    assert [read.key for read in facts.reads] == ["region"]
    assert "stacks/network/__main__.py" in files.folder("network")
    count = len(fetched)
    assert count == len(files) and "d4" * 20 in fetched
    source.stack_file_ids()  # the same commit again: nothing fetched twice
    assert len(fetched) == count
