"""The plan comment, the job summary and plan.md: what they say, and GitHub's size limits."""

from __future__ import annotations

import re

import pytest

from controller.core.comments import (
    COMMENT_LIMIT,
    MARKER,
    SUMMARY_LIMIT,
    RenderContext,
    comment_meta,
    comment_part,
    continuation_marker,
    mark_outdated,
    redact_data,
    render_comment,
    render_full,
    render_summary,
)

HEAD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
BASE = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
CONTEXT = RenderContext(
    repository="acme/infra", run_url="https://github.com/acme/infra/actions/runs/99", run_id="99"
)
COUNTS = re.compile(r"\d+ (will run|may run|to destroy|to change|unchanged)")


def entry(stack, status="changed", layer=1, reason="config key size changed", deps=(), env="dev"):
    return {
        "deploymentId": "D1BRV40",
        "environment": env,
        "stack": stack,
        "status": status,
        "reason": reason,
        "layer": layer,
        "estimatedDuration": 60,
        "dependencies": list(deps),
        "lastDeployedAt": None,
    }


def environment(entries, *, deployment="D1BRV40", env="dev", removals=()):
    layers = sorted({e["layer"] for e in entries})
    return {
        "deploymentId": deployment,
        "environment": env,
        "layers": [
            {"layer": n, "stacks": [e["stack"] for e in entries if e["layer"] == n]} for n in layers
        ],
        "entries": [e | {"deploymentId": deployment, "environment": env} for e in entries],
        "removals": list(removals),
    }


def document(*environments, previews=None, simulated=True):
    return {
        "mode": "git",
        "base": BASE,
        "head": HEAD,
        "baseCommit": BASE,
        "plannedAt": "2026-11-27T10:00:05.123Z",
        "engine": "simulate",
        "simulated": simulated,
        "changed": True,
        "environments": list(environments),
        "matrix": {},
        "previews": previews or {},
    }


def graph_preview(stack, changes):
    counts = {k: sum(1 for c in changes if c["kind"] == k) for k in ("create", "update", "delete")}
    return {
        "stack": stack,
        "source": "graph",
        "status": "previewed",
        "counts": counts,
        "changes": changes,
    }


def change(kind, name, inputs=(), type_="aws:ec2/vpc:Vpc"):
    return {
        "urn": f"urn::{name}",
        "type": type_,
        "name": name,
        "kind": kind,
        "inputs": list(inputs),
    }


def network_plan():
    entries = [
        entry("network", "changed", 1, "program file stacks/network/__main__.py changed"),
        entry("security", "pending-upstream", 2, "upstream network will run", deps=["network"]),
        entry("dns", "skipped", 2, f"unchanged since base {BASE[:7]}"),
        entry("storage", "skipped", 3, f"unchanged since base {BASE[:7]}"),
    ]
    tags = {"path": "tags.Owner", "old": "(none)", "new": '"platform"'}
    previews = {
        "D1BRV40/dev": {"stacks": [graph_preview("network", [change("update", "vpc", [tags])])]}
    }
    return document(environment(entries), previews=previews)


# --- the top says what happened ----------------------------------------------------------------


def test_the_headline_counts_what_will_run_apart_from_what_may_run():
    [body] = render_comment(network_plan(), context=CONTEXT)
    lines = body.splitlines()
    assert lines[0] == MARKER
    assert comment_meta(body) == {"head": HEAD, "run": "99"}
    assert lines[2] == "## ☁️ cloud plan: 1 will run · 1 may run (simulated)"
    facts = lines[4]
    assert f"head [`{HEAD[:7]}`](https://github.com/acme/infra/commit/{HEAD})" in facts
    assert f"base [`{BASE[:7]}`](https://github.com/acme/infra/commit/{BASE})" in facts
    assert (
        "engine `simulate`" in facts
        and "[run](https://github.com/acme/infra/actions/runs/99)" in facts
    )
    assert "planned 2026-11-27 10:00 UTC" in facts


def test_a_stack_without_a_preview_says_not_previewed_never_zero():
    plan = document(environment([entry("network")]), simulated=False)
    [body] = render_comment(plan, context=CONTEXT)
    assert "| `network` | 1 | update | not previewed | config key size changed |" in body
    assert "| 🟡 | `D1BRV40` / `dev` | 1 | 0 | 0 | not previewed | `network` |" in body
    assert "no change" not in body


def test_a_failed_plan_names_the_step_and_the_error_and_counts_nothing():
    failures = [{"step": "plan", "error": "base-ref deadbeef: git rev-parse --verify: failed"}]
    [body] = render_comment(None, failures=failures, context=CONTEXT)
    assert body.splitlines()[2] == "## ❌ cloud plan failed"
    assert "**The `plan` step failed**: base-ref deadbeef: git rev-parse --verify: failed" in body
    assert "[the run](https://github.com/acme/infra/actions/runs/99)" in body
    assert not COUNTS.search(body)
    assert "Overview" not in body and "No deployment is affected" not in body


def test_a_failure_wins_over_a_plan_left_by_the_same_job():
    failures = [{"step": "plan", "error": "engine crashed"}]
    [body] = render_comment(network_plan(), failures=failures, context=CONTEXT)
    assert "plan failed" in body.splitlines()[2]
    assert not COUNTS.search(body) and "Overview" not in body


def test_no_plan_and_no_failure_says_no_plan_was_made():
    [body] = render_comment(None, context=CONTEXT)
    assert body.splitlines()[2] == "## ❌ cloud plan: no plan was made"
    assert "did not run or did not finish" in body


def test_validation_problems_come_first_and_nothing_reads_as_a_plan():
    problems = [
        {
            "code": "VALIDATION_INVALID_ACCOUNT_ID",
            "message": "AWS account id must be exactly 12 digits",
            "file": "deployments/x/manifest.yaml",
            "line": 12,
        }
    ]
    [body] = render_comment(None, problems=problems, context=CONTEXT)
    assert body.splitlines()[2] == "## ❌ cloud plan: invalid (1 validation problem)"
    assert "| `deployments/x/manifest.yaml` | 12 | `VALIDATION_INVALID_ACCOUNT_ID` |" in body
    assert not COUNTS.search(body)


def test_a_failed_preview_makes_the_plan_incomplete():
    failed = {
        "stack": "network",
        "source": "graph",
        "status": "failed",
        "error": "the program at head failed: KeyError",
    }
    plan = document(environment([entry("network")]), previews={"D1BRV40/dev": {"stacks": [failed]}})
    [body] = render_comment(plan, context=CONTEXT)
    assert body.splitlines()[2] == "## ⚠️ cloud plan incomplete: 1 preview failed"
    assert "| ⚠️ | `D1BRV40` / `dev` | 1 | 0 | 0 | ⚠️ 1 failed | `network` |" in body
    assert "⚠️ preview failed | the program at head failed: KeyError" in body


# --- one comment that reads at a glance ----------------------------------------------------------


def test_environments_are_ordered_by_what_can_hurt_and_idle_ones_are_one_line():
    replace = {
        "stack": "database-rds",
        "source": "state",
        "status": "previewed",
        "counts": {"replace": 1},
        "changes": [change("replace", "db")],
    }
    create = graph_preview("network", [change("create", "vpc")])
    plan = document(
        environment([entry("network", "new")], deployment="D3CREAT"),
        environment([entry("network")], deployment="D2UPDAT"),
        environment([entry("database-rds")], deployment="D4REPLC", env="dev"),
        environment(
            [],
            deployment="D5REMOV",
            removals=[{"stack": "dns", "reason": "no longer in the deployment"}],
        ),
        environment([entry("network", "skipped", reason="unchanged")], deployment="D6IDLE1"),
        environment(
            [entry("network", "skipped", reason="unchanged")], deployment="D7IDLE2", env="prod"
        ),
        previews={
            "D4REPLC/dev": {"stacks": [replace]},
            "D3CREAT/dev": {"stacks": [create]},
        },
    )
    [body] = render_comment(plan, context=CONTEXT)
    rows = [line for line in body.splitlines() if line.startswith("| ") and "` / `" in line]
    assert [row.split("`")[1] for row in rows] == ["D4REPLC", "D5REMOV", "D2UPDAT", "D3CREAT"]
    assert rows[0].startswith("| 🔴 ") and rows[1].startswith("| 🔴 ")
    assert rows[2].startswith("| 🟡 ") and rows[3].startswith("| 🟢 ")
    assert "**Nothing to run** in 2 environments: `D7IDLE2` / `prod`, `D6IDLE1` / `dev`." in body
    sections = re.findall(r"<details><summary>\S+ <code>(\w+)</code>", body)
    assert sections == ["D4REPLC", "D5REMOV", "D2UPDAT", "D3CREAT"]  # idle: no section


def test_the_reason_a_stack_is_unchanged_is_said_once_per_environment():
    [body] = render_comment(network_plan(), context=CONTEXT)
    assert body.count(f"unchanged since base {BASE[:7]}") == 1
    assert f"- unchanged since base {BASE[:7]}: `dns`, `storage`" in body


def test_diffs_show_creates_deletes_replaces_and_inputs_old_to_new_with_secrets_masked():
    changes = [
        change("create", "public-c", type_="aws:ec2/subnet:Subnet"),
        change("delete", "nat-b", type_="aws:ec2/eip:Eip"),
        change("replace", "db", type_="aws:rds/instance:Instance"),
        change(
            "update",
            "vpc",
            [
                {"path": "cidrBlock", "old": '"10.0.0.0/16"', "new": '"10.1.0.0/16"'},
                {"path": "password", "old": "[secret]", "new": "[secret] (changed)"},
            ],
        ),
    ]
    preview = {
        "stack": "network",
        "source": "state",
        "status": "previewed",
        "counts": {"create": 1, "delete": 1, "replace": 1, "update": 1},
        "changes": changes,
    }
    plan = document(
        environment([entry("network")]), previews={"D1BRV40/dev": {"stacks": [preview]}}
    )
    [body] = render_comment(plan, context=CONTEXT)
    diff = body.split("```diff\n", 1)[1].split("\n```", 1)[0].splitlines()
    assert diff == [
        "+ aws:ec2/subnet:Subnet public-c",
        "- aws:ec2/eip:Eip nat-b",
        "- aws:rds/instance:Instance db (replace)",
        "+ aws:rds/instance:Instance db (replace)",
        "! aws:ec2/vpc:Vpc vpc",
        '    cidrBlock: "10.0.0.0/16" → "10.1.0.0/16"',
        "    password: [secret] → [secret] (changed)",
    ]
    assert "| 🔴 |" in body and "+1 ~1 -1 ±1" in body
    assert "`network` · preview against the state" in body


def test_a_simulated_preview_is_labelled_as_such():
    [body] = render_comment(network_plan(), context=CONTEXT)
    assert "`network` · simulated: resource graph at base vs head, no cloud state" in body
    assert "| `network` | 1 | update | ~1 (simulated) |" in body


def test_the_layer_picture_only_for_environments_with_work():
    idle = environment([entry("dns", "skipped", reason="unchanged")], deployment="D9IDLE0")
    plan = network_plan()
    plan["environments"].append(idle)
    [body] = render_comment(plan, context=CONTEXT)
    assert body.count("```mermaid") == 1
    mermaid = body.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert "network ~" in mermaid and "dns" in mermaid


def test_removals_are_listed_with_their_resources_and_the_approval_they_need():
    removals = [
        {
            "stack": "services-eks",
            "reason": "no longer in the deployment",
            "resources": ["aws:eks/cluster:Cluster cluster", "aws:iam/role:Role node"],
        }
    ]
    [body] = render_comment(document(environment([], removals=removals)), context=CONTEXT)
    assert body.splitlines()[2] == "## ☁️ cloud plan: 1 to destroy (simulated)"
    assert "on merge only after an approval in the protected environment" in body
    assert (
        "| `services-eks` | no longer in the deployment | `aws:eks/cluster:Cluster cluster`, "
        "`aws:iam/role:Role node` |" in body
    )


# --- it says what the data says ----------------------------------------------------------------


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("program file stacks/network/[click](https:example.com).py added", id="link"),
        pytest.param("config key x changed, cc @octocat and @acme/admins", id="mention"),
        pytest.param("see https://evil.example.com/x and www.evil.example.com", id="autolink"),
        pytest.param("closes #12 | broken | cell", id="reference-and-pipe"),
        pytest.param("</summary></details><img src=x onerror=alert(1)>", id="html"),
        pytest.param("![tracker](https://evil.example.com/pixel.png)", id="image"),
    ],
)
def test_user_controlled_strings_render_as_literal_text(hostile):
    plan = document(environment([entry("network", reason=hostile)]))
    [body] = render_comment(plan, context=CONTEXT)
    row = next(line for line in body.splitlines() if line.startswith("| `network` |"))
    assert row.count(" | ") == 4  # five cells: nothing broke out of the table
    assert not re.search(r"(?<!\\)[\[\]()<>]", row.replace("`network`", ""))
    assert not re.search(r"@[A-Za-z]", row)
    assert not re.search(r"https?://|www\.", row)
    assert not re.search(r"#\d", row)


def test_names_render_as_code_that_nothing_closes():
    weird = entry("net`work|x", reason="r")
    [body] = render_comment(document(environment([weird])), context=CONTEXT)
    assert "| ``net`work\\|x`` |" in body


def test_no_secret_value_ever_appears():
    secret_output, secret_config = "s3cr3t-client-value", "api-key-123456"
    preview = graph_preview(
        "authentication",
        [
            change(
                "update",
                f"client-{secret_output}",
                [{"path": "key", "old": secret_config, "new": "x"}],
            )
        ],
    )
    plan = document(
        environment([entry("authentication", reason=f"config key {secret_config} changed")]),
        previews={"D1BRV40/dev": {"stacks": [preview]}},
    )
    problems = [{"code": "X", "message": f"value {secret_config} is wrong", "file": "f"}]
    secrets = [secret_output, secret_config]
    texts = [
        *render_comment(plan, problems=problems, secrets=secrets, context=CONTEXT),
        render_summary(plan, problems=problems, secrets=secrets),
        render_full(plan, problems=problems, secrets=secrets),
    ]
    for text in texts:
        assert secret_output not in text and secret_config not in text and "[secret]" in text
    assert secret_output not in str(redact_data(plan, secrets))


# --- at any size -------------------------------------------------------------------------------


def deployment_id(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = ""
    for _ in range(6):
        n, rest = divmod(n, 36)
        text = digits[rest] + text
    return "D" + text


def scale_plan(deployments=500, environments=("dev", "stage", "prod"), previewed=30):
    """A network change across `deployments` deployments of the default template's shape."""
    stacks = [
        "security",
        "dns",
        "storage",
        "secrets",
        "database-rds",
        "services-ecs",
        "containers-apps",
        "monitoring",
        "services-api",
        "compute-ec2",
        "authentication",
        "containers-images",
        "services-ecr",
        "compute-lambda",
        "services-eks",
    ]
    envs, previews = [], {}
    for n in range(deployments):
        for env in environments:
            entries = [
                entry("network", "changed", 1, "program file stacks/network/__main__.py changed")
            ]
            entries += [
                entry(
                    s, "pending-upstream", 2 + i % 5, "upstream network will run", deps=["network"]
                )
                for i, s in enumerate(stacks)
            ]
            envs.append(environment(entries, deployment=deployment_id(n), env=env))
            key = f"{deployment_id(n)}/{env}"
            if len(previews) < previewed:
                tags = {"path": "tags.Owner", "old": "(none)", "new": '"platform"'}
                names = ["vpc", "igw", "nat", "public-0", "public-1", "private-0", "private-1"]
                previews[key] = {
                    "stacks": [
                        graph_preview("network", [change("update", x, [tags]) for x in names])
                    ]
                }
            else:
                previews[key] = {
                    "stacks": [
                        {
                            "stack": "network",
                            "source": "none",
                            "status": "not-previewed",
                            "reason": "the preview limit (30 instances) was reached",
                        }
                    ]
                }
    return document(*envs, previews=previews)


def overview_keys(bodies):
    keys = []
    for body in bodies:
        for line in body.splitlines():
            if line.startswith("| ") and "` / `" in line:
                keys += re.findall(r"`(D\w{6})` / `(\w+)`", line)
    return keys


def test_500_deployments_fit_in_three_comments_with_a_complete_overview():
    plan = scale_plan()
    bodies = render_comment(plan, context=CONTEXT)
    assert 1 < len(bodies) <= 3
    for number, body in enumerate(bodies, 1):
        assert len(body) <= COMMENT_LIMIT and len(body.encode("utf-16-le")) // 2 <= COMMENT_LIMIT
        assert comment_part(body) == number
        lines = body.splitlines()
        for index, line in enumerate(lines):  # every table starts with its header
            if line.startswith("|") and not lines[index - 1].startswith("|"):
                assert line.startswith(("| |", "| stack |", "| file |")), line
                assert lines[index + 1].startswith("|---")
        last_heading = max((i for i, line in enumerate(lines) if line.startswith("#")), default=0)
        assert any(line.startswith("|") for line in lines[last_heading:]) or number == 1
    expected = [(e["deploymentId"], e["environment"]) for e in plan["environments"]]
    assert sorted(overview_keys(bodies)) == sorted(expected)
    assert bodies[0].splitlines()[2] == "## ☁️ cloud plan: 1500 will run · 22500 may run (simulated)"
    assert "Left out here to fit GitHub's size limit: the details of" in bodies[-1]
    assert "[job summary](https://github.com/acme/infra/actions/runs/99)" in bodies[-1]
    assert "`plan.md`, `plan.json`" in bodies[-1]
    assert bodies[1].startswith(continuation_marker(2))


def test_an_overview_too_long_even_for_three_comments_merges_identical_rows():
    plan = scale_plan(deployments=2000, previewed=0)
    bodies = render_comment(plan, context=CONTEXT)
    assert len(bodies) <= 3 and all(len(b) <= COMMENT_LIMIT for b in bodies)
    text = "".join(bodies)
    assert "environments with identical rows are merged into one row" in text
    assert len(set(re.findall(r"`(D\w{6})` / `(\w+)`", text))) == 6000  # still every one named


def test_a_small_plan_is_one_comment_with_every_detail():
    bodies = render_comment(network_plan(), context=CONTEXT)
    assert len(bodies) == 1 and "Left out" not in bodies[0]


def test_the_summary_stays_under_one_mebibyte_with_the_whole_overview():
    plan = scale_plan()
    text = render_summary(plan, context=CONTEXT)
    assert len(text.encode()) <= SUMMARY_LIMIT
    assert sorted(overview_keys([text])) == sorted(
        (e["deploymentId"], e["environment"]) for e in plan["environments"]
    )
    assert "Left out here" in text and "`plan.md`" in text
    full = render_full(plan, context=CONTEXT)
    assert len(full.encode()) > SUMMARY_LIMIT and "Left out" not in full
    assert full.count("<details><summary>") >= 1500


# --- outdated plans ----------------------------------------------------------------------------


def test_a_plan_of_an_older_head_is_marked_outdated_once():
    [body] = render_comment(network_plan(), context=CONTEXT)
    newer = "f" * 40
    marked = mark_outdated(
        body, head=newer, run_url="https://github.com/acme/infra/actions/runs/100"
    )
    assert marked is not None and marked.startswith(MARKER)
    assert f"this plan is for `{HEAD[:7]}`; the pull request is now at `fffffff`" in marked
    assert comment_meta(marked)["head"] == HEAD
    again = mark_outdated(marked, head="e" * 40, run_url=None)
    assert again is not None and again.count("**Outdated**") == 1 and "`eeeeeee`" in again
    assert mark_outdated(body, head=HEAD, run_url=None) is None
    assert mark_outdated("a human's comment", head=newer, run_url=None) is None
