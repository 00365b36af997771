"""GitHub's issue-comment REST API, faked with `responses` where PyGithub calls it.

Stubs are registered at `https://api.github.com:443/...` (what PyGithub requests), while the
`url` fields inside the JSON bodies stay `https://api.github.com/...` (what GitHub sends).
Listing is paginated like GitHub's: `per_page`, `page` and a `Link: <…>; rel="next"` header.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import responses

API = "https://api.github.com:443"
TEMPLATE = json.loads((Path(__file__).parent / "fixtures/github/issue_comment.json").read_text())


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
        base = f"{API}/repos/{repo}"
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

    def add_comment(self, body: str) -> int:
        self.next_id += 1
        comment = copy.deepcopy(TEMPLATE)
        comment_id = self.next_id
        comment.update(
            id=comment_id,
            body=body,
            url=f"https://api.github.com/repos/{self.repo}/issues/comments/{comment_id}",
            html_url=f"https://github.com/{self.repo}/pull/{self.number}#issuecomment-{comment_id}",
        )
        self.comments[comment_id] = comment
        return comment_id

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
        comment_id = self.add_comment(json.loads(request.body)["body"])
        if self.fail_after_storing:
            self.fail_after_storing -= 1
            return 502, {}, json.dumps({"message": "Server Error"})
        return 201, {}, json.dumps(self.comments[comment_id])

    def _edit(self, request):
        self.requests.append(("PATCH", request.url))
        if (failure := self._failure(request)) is not None:
            return failure
        comment_id = int(request.url.rsplit("/", 1)[1])
        self.comments[comment_id]["body"] = json.loads(request.body)["body"]
        return 200, {}, json.dumps(self.comments[comment_id])

    def _delete(self, request):
        self.requests.append(("DELETE", request.url))
        self.comments.pop(int(request.url.rsplit("/", 1)[1]))
        return 204, {}, ""

    def bodies(self) -> list[str]:
        return [comment["body"] for comment in self.comments.values()]


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
