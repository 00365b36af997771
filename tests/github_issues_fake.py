"""GitHub's issues REST API for one repository, faked with `responses` where PyGithub
calls it: list (filtered by state and creator, paginated), create, edit, comment.

Stubs are registered at `https://api.github.com:443/...`; the `url` fields in the bodies
stay `https://api.github.com/...`, as GitHub sends them.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import responses

API = "https://api.github.com:443"
TEMPLATE = json.loads((Path(__file__).parent / "fixtures/github/issue.json").read_text())
COMMENT = json.loads((Path(__file__).parent / "fixtures/github/issue_comment.json").read_text())


class FakeIssues:
    def __init__(self, mock: responses.RequestsMock, repo: str = "acme/infra") -> None:
        self.repo = repo
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.fail_after_storing = 0  # creates GitHub stores but answers with a 502
        base = f"{API}/repos/{repo}"
        listing = rf"https://api\.github\.com(:443)?/repos/{re.escape(repo)}/issues"
        mock.add_callback(responses.GET, re.compile(listing + r"(\?.*)?$"), self._list)
        mock.add_callback(responses.POST, f"{base}/issues", self._create)
        one = re.compile(rf"{re.escape(base)}/issues/\d+$")
        mock.add_callback(responses.GET, one, self._get)
        mock.add_callback(responses.PATCH, one, self._edit)
        mock.add_callback(
            responses.POST, re.compile(rf"{re.escape(base)}/issues/\d+/comments$"), self._comment
        )

    def add(
        self,
        title: str,
        body: str,
        *,
        author: str = "github-actions[bot]",
        pull_request: bool = False,
    ) -> int:
        number = len(self.issues) + 1
        issue = copy.deepcopy(TEMPLATE)
        issue.update(
            id=number,
            number=number,
            title=title,
            body=body,
            url=f"https://api.github.com/repos/{self.repo}/issues/{number}",
            html_url=f"https://github.com/{self.repo}/issues/{number}",
            comments_url=f"https://api.github.com/repos/{self.repo}/issues/{number}/comments",
        )
        issue["user"] = dict(
            issue["user"], login=author, type="Bot" if "[bot]" in author else "User"
        )
        if pull_request:
            issue["pull_request"] = {
                "url": f"https://api.github.com/repos/{self.repo}/pulls/{number}"
            }
            issue["html_url"] = f"https://github.com/{self.repo}/pull/{number}"
        self.issues[number] = issue
        return number

    def _list(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", request.url))
        query = parse_qs(urlparse(request.url).query)
        state = query.get("state", ["open"])[0]
        creator = query.get("creator", [None])[0]
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        items = [
            i for i in self.issues.values()
            if (state == "all" or i["state"] == state)
            and (creator is None or i["user"]["login"] == creator)
        ]  # fmt: skip
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (
                f"<https://api.github.com/repos/{self.repo}/issues?state={state}&per_page="
                f'{per_page}&page={page + 1}>; rel="next"'
            )
        return 200, headers, json.dumps(chunk)

    def _create(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("POST", request.url))
        sent = json.loads(request.body)
        number = self.add(sent["title"], sent["body"])
        self.issues[number]["labels"] = [{"name": name} for name in sent.get("labels", [])]
        if self.fail_after_storing:
            self.fail_after_storing -= 1
            return 502, {}, json.dumps({"message": "Server Error"})
        return 201, {}, json.dumps(self.issues[number])

    def _get(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("GET", request.url))
        return 200, {}, json.dumps(self.issues[int(request.url.rsplit("/", 1)[1])])

    def _edit(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("PATCH", request.url))
        number = int(request.url.rsplit("/", 1)[1])
        self.issues[number].update(json.loads(request.body))
        return 200, {}, json.dumps(self.issues[number])

    def _comment(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.requests.append(("POST", request.url))
        number = int(request.url.rsplit("/", 2)[1])
        body = json.loads(request.body)["body"]
        self.comments.setdefault(number, []).append(body)
        comment = dict(COMMENT, body=body)
        return 201, {}, json.dumps(comment)

    def open_ones(self) -> list[dict[str, Any]]:
        return [i for i in self.issues.values() if i["state"] == "open"]
