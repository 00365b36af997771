"""The plan comment: content, GitHub's size limit, and no secret ever in it."""

from __future__ import annotations

import pytest

from controller.core.comments import (
    COMMENT_LIMIT,
    MARKER,
    continuation_marker,
    render_comment,
    render_summary,
)


def entry(stack, status="changed", layer=1, reason="config key size changed", deps=()):
    return {
        "deploymentId": "D1BRV40",
        "environment": "dev",
        "stack": stack,
        "status": status,
        "reason": reason,
        "layer": layer,
        "estimatedDuration": 60,
        "dependencies": list(deps),
        "lastDeployedAt": None,
    }


def document(entries, *, removals=(), previews=None, simulated=True):
    layers = sorted({e["layer"] for e in entries})
    return {
        "mode": "git",
        "base": "main",
        "engine": "simulate",
        "simulated": simulated,
        "changed": True,
        "environments": [
            {
                "deploymentId": "D1BRV40",
                "environment": "dev",
                "layers": [
                    {"layer": n, "stacks": [e["stack"] for e in entries if e["layer"] == n]}
                    for n in layers
                ],
                "entries": entries,
                "removals": list(removals),
            }
        ],
        "matrix": {},
        "previews": previews or {},
    }


PREVIEW = {
    "D1BRV40/dev": {
        "stacks": [
            {
                "stack": "database-rds",
                "status": "succeeded",
                "counts": {"create": 1, "update": 2, "delete": 0, "replace": 1},
                "duration": 2.5,
                "changes": [
                    {
                        "urn": "u",
                        "type": "aws:rds/instance:Instance",
                        "name": "postgres",
                        "kind": "update",
                        "changedInputs": ["instanceClass"],
                    }
                ],
            }
        ]
    }
}


def test_the_comment_has_the_table_skipped_details_diagram_and_previews():
    entries = [
        entry("network", "skipped", 1, "unchanged since base main"),
        entry("database-rds", "changed", 2, deps=["network"]),
        entry(
            "monitoring",
            "pending-upstream",
            3,
            "upstream database-rds will run",
            deps=["database-rds"],
        ),
    ]
    [body] = render_comment(document(entries, previews=PREVIEW), run_url="https://x/run/1")
    assert body.startswith(MARKER + "\n## ☁️ cloud plan: 2 to change, 1 unchanged (simulated)")
    assert (
        "| `database-rds` | 2 | update | 1 | 2 | 0 | 1 | 2.5s | config key size changed |" in body
    )
    assert "<details><summary>1 unchanged</summary>" in body
    assert "- `network`: unchanged since base main" in body
    assert "```mermaid\nflowchart LR" in body and "s_network --> s_database_rds" in body
    assert "~ aws:rds/instance:Instance postgres (instanceClass)" in body
    assert "[run](https://x/run/1)" in body


def test_validation_problems_come_first():
    problems = [
        {
            "code": "VALIDATION_INVALID_ACCOUNT_ID",
            "message": "AWS account id must be exactly 12 digits",
            "file": "deployments/x/manifest.yaml",
            "line": 12,
        }
    ]
    [body] = render_comment(document([entry("network")]), problems=problems)
    assert "❌ invalid" in body.splitlines()[1]
    assert body.index("Validation problems (1)") < body.index("### D1BRV40 / dev")
    assert "| `deployments/x/manifest.yaml` | 12 | `VALIDATION_INVALID_ACCOUNT_ID` |" in body


def test_removals_are_listed_with_their_resources_and_the_approval_they_need():
    removals = [
        {
            "stack": "services-eks",
            "reason": "no longer in the deployment",
            "resources": ["aws:eks/cluster:Cluster cluster", "aws:iam/role:Role node"],
        }
    ]
    [body] = render_comment(document([], removals=removals))
    assert "To destroy (runs on merge only after approval" in body
    assert (
        "| `services-eks` | no longer in the deployment | `aws:eks/cluster:Cluster cluster`" in body
    )


def big_document(stacks=400, changes=60):
    entries = [entry(f"stack-{i:03d}", layer=1 + i % 8) for i in range(stacks)]
    previews = {
        "D1BRV40/dev": {
            "stacks": [
                {
                    "stack": e["stack"],
                    "status": "succeeded",
                    "duration": 1.0,
                    "counts": {"create": changes, "update": 0, "delete": 0, "replace": 0},
                    "changes": [
                        {
                            "urn": "u",
                            "type": "aws:s3/bucket:Bucket",
                            "name": f"bucket-{j}",
                            "kind": "create",
                            "changedInputs": [],
                        }
                        for j in range(changes)
                    ],
                }
                for e in entries
            ]
        }
    }
    return document(entries, previews=previews)


def test_an_oversized_comment_drops_previews_first_then_splits_between_blocks():
    bodies = render_comment(big_document(stacks=400), run_url="https://x/run/1")
    assert all(len(body) <= COMMENT_LIMIT for body in bodies)
    assert "previews left out to fit GitHub's comment size; see [the run]" in "".join(bodies)
    assert "```diff" not in "".join(bodies)
    assert bodies[0].startswith(MARKER)
    for number, body in enumerate(bodies[1:], 2):
        assert body.startswith(continuation_marker(number))


def test_a_table_too_long_for_one_comment_is_split_with_its_header_repeated():
    bodies = render_comment(big_document(stacks=900, changes=1), limit=20_000)
    assert len(bodies) > 1
    header = "| stack | layer | action | + | ~ | - | ± | duration | why |"
    rows = 0
    for body in bodies:
        lines = body.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("| `stack-"):
                rows += 1
                above = next(
                    lines[i] for i in range(index, -1, -1) if not lines[i].startswith("| `stack-")
                )
                assert above in (header, "|---|---|---|---|---|---|---|---|---|")
    assert rows == 900


def test_no_secret_value_ever_appears():
    secret_output, secret_config = "s3cr3t-client-value", "api-key-123456"
    entries = [entry("authentication", reason="config key apiKeyValue changed")]
    previews = {
        "D1BRV40/dev": {
            "stacks": [
                {
                    "stack": "authentication",
                    "status": "succeeded",
                    "duration": 1.0,
                    "counts": {"create": 0, "update": 1, "delete": 0, "replace": 0},
                    "error": None,
                    "outputs": {"clientSecret": "[secret]"},
                    "changes": [
                        {
                            "urn": "u",
                            "type": "aws:cognito/userPoolClient:UserPoolClient",
                            "name": f"client-{secret_output}",
                            "kind": "update",
                            "changedInputs": [secret_config],
                        }
                    ],
                }
            ]
        }
    }
    problems = [{"code": "X", "message": f"value {secret_config} is wrong", "file": "f"}]
    bodies = render_comment(
        document(entries, previews=previews),
        problems=problems,
        secrets=[secret_output, secret_config],
    )
    text = "".join(bodies)
    assert secret_output not in text and secret_config not in text
    assert "[secret]" in text


def test_the_summary_has_the_tables_but_no_previews():
    text = render_summary(document([entry("database-rds")], previews=PREVIEW))
    assert "| `database-rds` |" in text
    assert "```diff" not in text and "mermaid" not in text


@pytest.mark.parametrize("status", ["skipped", "excluded"])
def test_nothing_to_change(status):
    [body] = render_comment(document([entry("network", status, reason="unchanged")]))
    assert "0 to change, 1 unchanged" in body
    assert "Nothing to change." in body
