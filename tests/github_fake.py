"""GitHub's REST API where the plan comment meets it, faked with `responses` under PyGithub.

Stubs are registered at `https://api.github.com:443/...` (what PyGithub requests), while the
`url` fields inside the JSON bodies stay `https://api.github.com/...` (what GitHub sends).
Listing is paginated like GitHub's: `per_page`, `page` and a `Link: <…>; rel="next"` header.

Besides issue comments (each with its author: the default token comments as
`github-actions[bot]`), it serves what the comment relay reads: `GET /user` (403 for the
default token, as on GitHub), pull requests by head, and a workflow run's artifacts (the
zip behind a 302 to blob storage, as GitHub answers).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import responses

API = "https://api.github.com:443"
BOT = "github-actions[bot]"
FIXTURES = Path(__file__).parent / "fixtures/github"
TEMPLATE = json.loads((FIXTURES / "issue_comment.json").read_text())
BLOB = "https://productionresultssa0.blob.core.windows.net"


def pull_request_event(number: int, *, head: str, base: str, repo: str = "acme/infra") -> dict:
    """The `pull_request` event of a same-repository pull request, as the runner has it."""
    return {
        "number": number,
        "pull_request": {
            "number": number,
            "head": {"sha": head, "repo": {"full_name": repo, "fork": False}},
            "base": {"sha": base},
        },
    }


def fixture(name: str, **values: str) -> dict:
    text = (FIXTURES / name).read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return json.loads(text)


class FakeGitHub:
    def __init__(
        self, mock: responses.RequestsMock, repo: str = "acme/infra", number: int = 7
    ) -> None:
        self.repo = repo
        self.number = number
        self.comments: dict[int, dict] = {}
        self.next_id = 100
        self.requests: list[tuple[str, str]] = []
        self.fail_next: list[tuple[int, dict[str, str], str]] = []
        self.fail_after_storing = 0  # creates that GitHub stores but answers with a 502
        self.token_login: str | None = None  # None: the default token (GET /user is 403)
        self.pulls: dict[int, dict] = {}
        self.runs: dict[int, dict] = {}
        self.artifacts: dict[int, dict[str, bytes]] = {}  # run id -> name -> zip bytes
        base = f"{API}/repos/{repo}"
        self.base = base
        listing = (
            rf"https://api\.github\.com(:443)?/repos/{re.escape(repo)}/issues/{number}/comments"
        )
        mock.add_callback(responses.GET, re.compile(listing + r"(\?.*)?$"), self._list)
        mock.add_callback(responses.POST, f"{base}/issues/{number}/comments", self._create)
        mock.add_callback(
            responses.PATCH, re.compile(rf"{re.escape(base)}/issues/comments/\d+$"), self._edit
        )
        mock.add_callback(
            responses.DELETE, re.compile(rf"{re.escape(base)}/issues/comments/\d+$"), self._delete
        )
        mock.add_callback(responses.GET, f"{API}/user", self._user)
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(base)}/pulls(\?.*)?$"), self._pulls
        )
        mock.add_callback(responses.GET, re.compile(rf"{re.escape(base)}/pulls/\d+$"), self._pull)
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(base)}/actions/runs/\d+$"), self._run
        )
        mock.add_callback(
            responses.GET,
            re.compile(
                rf"https://api\.github\.com(:443)?/repos/{re.escape(repo)}"
                r"/actions/runs/\d+/artifacts(\?.*)?$"
            ),
            self._artifacts,
        )
        mock.add_callback(
            responses.GET,
            re.compile(
                rf"https://api\.github\.com(:443)?/repos/{re.escape(repo)}/actions/artifacts/\d+/zip$"
            ),
            self._artifact_zip,
        )
        mock.add_callback(responses.GET, re.compile(rf"{re.escape(BLOB)}/.*"), self._blob)

    # --- state ------------------------------------------------------------------------------

    def add_comment(self, body: str, login: str = BOT) -> int:
        self.next_id += 1
        comment = copy.deepcopy(TEMPLATE)
        comment_id = self.next_id
        comment.update(
            id=comment_id,
            body=body,
            url=f"https://api.github.com/repos/{self.repo}/issues/comments/{comment_id}",
            html_url=f"https://github.com/{self.repo}/pull/{self.number}#issuecomment-{comment_id}",
        )
        comment["user"] = {**comment["user"], "login": login}
        if login != BOT:
            comment["user"].update(type="User", html_url=f"https://github.com/{login}")
        self.comments[comment_id] = comment
        return comment_id

    def add_fork_pull(self, *, head: str, base: str) -> dict:
        pull = fixture("pull_request_fork.json", head=head, base=base)
        self.pulls[pull["number"]] = pull
        return pull

    def add_run(self, event: dict, artifacts: dict[str, bytes] | None = None) -> None:
        run = event["workflow_run"]
        self.runs[run["id"]] = run
        self.artifacts[run["id"]] = dict(artifacts or {})

    def bodies(self) -> list[str]:
        return [comment["body"] for comment in self.comments.values()]

    def authors(self) -> list[str]:
        return [comment["user"]["login"] for comment in self.comments.values()]

    def writes(self) -> list[str]:
        return [method for method, _ in self.requests if method in ("POST", "PATCH", "DELETE")]

    # --- handlers ---------------------------------------------------------------------------

    def _failure(self, request):
        if self.fail_next:
            status, headers, message = self.fail_next.pop(0)
            return status, headers, json.dumps({"message": message})
        return None

    def _list(self, request):
        self.requests.append(("GET", request.url))
        if (failure := self._failure(request)) is not None:
            return failure
        query = parse_qs(urlparse(request.url).query)
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        items = list(self.comments.values())
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            link = (
                f"<https://api.github.com/repos/{self.repo}/issues/{self.number}/comments?"
                f'per_page={per_page}&page={page + 1}>; rel="next"'
            )
            headers["Link"] = link
        return 200, headers, json.dumps(chunk)

    def _create(self, request):
        self.requests.append(("POST", request.url))
        if (failure := self._failure(request)) is not None:
            return failure
        comment_id = self.add_comment(json.loads(request.body)["body"], self.token_login or BOT)
        if self.fail_after_storing:
            self.fail_after_storing -= 1
            return 502, {}, json.dumps({"message": "Server Error"})
        return 201, {}, json.dumps(self.comments[comment_id])

    def _edit(self, request):
        self.requests.append(("PATCH", request.url))
        if (failure := self._failure(request)) is not None:
            return failure
        comment_id = int(request.url.rsplit("/", 1)[1])
        comment = self.comments[comment_id]
        if comment["user"]["login"] != (self.token_login or BOT):
            return 403, {}, json.dumps({"message": "Resource not accessible by integration"})
        comment["body"] = json.loads(request.body)["body"]
        return 200, {}, json.dumps(comment)

    def _delete(self, request):
        self.requests.append(("DELETE", request.url))
        comment_id = int(request.url.rsplit("/", 1)[1])
        if self.comments[comment_id]["user"]["login"] != (self.token_login or BOT):
            return 403, {}, json.dumps({"message": "Resource not accessible by integration"})
        self.comments.pop(comment_id)
        return 204, {}, ""

    def _user(self, request):
        self.requests.append(("GET", request.url))
        if self.token_login is None:
            return 403, {}, json.dumps({"message": "Resource not accessible by integration"})
        return 200, {}, json.dumps({"login": self.token_login, "id": 1, "type": "User"})

    def _pulls(self, request):
        self.requests.append(("GET", request.url))
        query = parse_qs(urlparse(request.url).query)
        head = query.get("head", [None])[0]
        state = query.get("state", ["open"])[0]
        found = [
            pull
            for pull in self.pulls.values()
            if (head is None or pull["head"]["label"] == head)
            and (state == "all" or pull["state"] == state)
        ]
        return 200, {}, json.dumps(found)

    def _pull(self, request):
        self.requests.append(("GET", request.url))
        pull = self.pulls.get(int(request.url.rsplit("/", 1)[1]))
        if pull is None:
            return 404, {}, json.dumps({"message": "Not Found"})
        return 200, {}, json.dumps(pull)

    def _run(self, request):
        self.requests.append(("GET", request.url))
        run = self.runs.get(int(request.url.rsplit("/", 1)[1]))
        if run is None:
            return 404, {}, json.dumps({"message": "Not Found"})
        return 200, {}, json.dumps(run)

    def _artifacts(self, request):
        self.requests.append(("GET", request.url))
        run_id = int(urlparse(request.url).path.split("/")[-2])
        if run_id not in self.artifacts:
            return 404, {}, json.dumps({"message": "Not Found"})
        template = fixture("artifacts.json", head=self.runs[run_id]["head_sha"])["artifacts"][0]
        items = []
        for index, (name, data) in enumerate(sorted(self.artifacts[run_id].items())):
            artifact_id = run_id * 10 + index
            items.append(
                template
                | {
                    "id": artifact_id,
                    "name": name,
                    "size_in_bytes": len(data),
                    "url": f"https://api.github.com/repos/{self.repo}/actions/artifacts/{artifact_id}",
                    "archive_download_url": f"https://api.github.com/repos/{self.repo}/actions/"
                    f"artifacts/{artifact_id}/zip",
                }
            )
        return 200, {}, json.dumps({"total_count": len(items), "artifacts": items})

    def _artifact_zip(self, request):
        self.requests.append(("GET", request.url))
        artifact_id = int(request.url.rsplit("/", 2)[1])
        if "Authorization" not in request.headers:
            return 401, {}, json.dumps({"message": "Requires authentication"})
        return 302, {"Location": f"{BLOB}/artifacts/{artifact_id}.zip?sig=x"}, ""

    def _blob(self, request):
        self.requests.append(("GET", request.url))
        if "Authorization" in request.headers:  # the token must not travel to blob storage
            return 400, {}, "authorization header not allowed"
        artifact_id = int(urlparse(request.url).path.rsplit("/", 1)[1].split(".")[0])
        run_id, index = divmod(artifact_id, 10)
        data = sorted(self.artifacts[run_id].items())[index][1]
        return 200, {"Content-Type": "application/zip"}, data


ENVIRONMENT = json.loads((Path(__file__).parent / "fixtures/github/environment.json").read_text())
REPO = json.loads((Path(__file__).parent / "fixtures/github/repo.json").read_text())


class FakeEnvironments:
    """GitHub's deployment environments API: each environment with its protection rules."""

    def __init__(self, mock: responses.RequestsMock, repo: str = "acme/infra") -> None:
        self.repo = repo
        self.environments: dict[str, dict] = {}
        self.reads: list[str] = []
        base = f"{API}/repos/{repo}"
        url = f"https://api.github.com/repos/{repo}"
        mock.add(responses.GET, base, json=REPO | {"full_name": repo, "url": url})
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(base)}/environments/([^/?]+)$"), self._one
        )
        mock.add_callback(
            responses.GET, re.compile(rf"{re.escape(base)}/environments(\?.*)?$"), self._list
        )

    def add(self, name: str, *, reviewers: bool = True, wait_timer: bool = False) -> None:
        environment = copy.deepcopy(ENVIRONMENT)
        wanted = {"required_reviewers": reviewers, "wait_timer": wait_timer, "branch_policy": True}
        rules = [rule for rule in environment["protection_rules"] if wanted[rule["type"]]]
        environment.update(
            name=name,
            url=f"https://api.github.com/repos/{self.repo}/environments/{name}",
            protection_rules=rules,
        )
        self.environments[name] = environment

    def _one(self, request):
        name = urlparse(request.url).path.rsplit("/", 1)[-1]
        self.reads.append(name)
        if name not in self.environments:
            return 404, {}, json.dumps({"message": "Not Found", "status": "404"})
        return 200, {}, json.dumps(self.environments[name])

    def _list(self, request):
        query = parse_qs(urlparse(request.url).query)
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["30"])[0])
        names = sorted(self.environments)
        chunk = names[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(names):
            query = f"per_page={per_page}&page={page + 1}"
            next_url = f"https://api.github.com/repos/{self.repo}/environments?{query}"
            headers["Link"] = f'<{next_url}>; rel="next"'
        body = {"total_count": len(names), "environments": [self.environments[n] for n in chunk]}
        return 200, headers, json.dumps(body)
