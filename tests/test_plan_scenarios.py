"""The corpus of change scenarios: one deployed repo, one change each, and the exact sets.

A small catalog (five stacks whose tiny programs run under Pulumi's mock runtime, outputs
derived from their config like real ones), two templates and three deployments are
committed and deployed with the simulated engine. Each scenario changes something (and
may commit, deploy or revert first), then asserts:

- the instances the static plan selects (new or changed), against the base commit
  (`cloud plan --base`) and against the backend's records (`cloud plan`);
- the instances the simulated deploy runs (static selections plus the dependents whose
  consumed upstream outputs changed, found at run time);
- the removals both plans list (and that a deploy without `--remove` destroyed none).

Instances are written `D1/dev/net`.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from controller.cli.main import main
from tests.conftest import git

THING = """\
import pulumi


class Thing(pulumi.CustomResource):
    def __init__(self, name, props):
        super().__init__("test:index:Thing", name, props)


cfg = pulumi.Config()
cloud = pulumi.Config("cloud")
"""

FILES = {
    ".gitignore": ".cloud/\n",
    "stacks/requirements.txt": "pulumi==3.140.0\npulumi-aws==7.50.0\n",
    "stacks/net/stack.yaml": """\
        name: net
        displayName: Net
        category: network
        reads: [tags]
        outputs:
          vpcId: {type: string}
          zoneCount: {type: integer}
        configuration:
          cidr: {type: string, default: 10.0.0.0/16}
          zones: {type: integer, default: 2}
        """,
    "stacks/net/__main__.py": THING
    + """\
cidr = cfg.get("cidr")
zones = cfg.get_int("zones")
Thing("vpc", {"cidr": cidr, "zones": zones, "tags": cloud.get_object("tags") or {}})
pulumi.export("vpcId", "vpc-" + cidr)
pulumi.export("zoneCount", zones)
""",
    "stacks/db/stack.yaml": """\
        name: db
        displayName: Database
        category: data
        dependencies: [net]
        outputs:
          endpoint: {type: string}
        configuration:
          vpcId: {type: string, required: true}
          size: {type: integer, default: 20}
          engine: {type: string, default: postgres}
        """,
    "stacks/db/__main__.py": THING
    + """\
Thing("db", {"size": cfg.get_int("size"), "engine": cfg.get("engine"), "vpc": cfg.get("vpcId")})
pulumi.export("endpoint", f"{cfg.get('engine')}.{cfg.get('vpcId')}")
""",
    "stacks/app/stack.yaml": """\
        name: app
        displayName: App
        category: compute
        reads: [tags]
        outputs:
          url: {type: string}
        configuration:
          dbEndpoint: {type: string, required: true}
          banner: {type: string, default: hello}
        """,
    "stacks/app/__main__.py": THING
    + """\
Thing("app", {"db": cfg.get("dbEndpoint"), "banner": cfg.get("banner"),
              "tags": cloud.get_object("tags") or {}})
pulumi.export("url", "https://" + cfg.get("banner"))
""",
    "stacks/dns/stack.yaml": """\
        name: dns
        displayName: DNS
        category: network
        reads: [domain]
        outputs:
          zone: {type: string}
        configuration:
          domainName: {type: string, default: ""}
        """,
    "stacks/dns/__main__.py": THING
    + """\
zone = cfg.get("domainName") or cloud.get("domain") or "example.com"
Thing("zone", {"name": zone})
pulumi.export("zone", zone)
""",
    "stacks/extra/stack.yaml": """\
        name: extra
        displayName: Extra
        category: devops
        outputs:
          ok: {type: boolean}
        """,
    "stacks/extra/__main__.py": THING + 'Thing("extra", {})\npulumi.export("ok", True)\n',
    "stacks/templates/basic.yaml": """\
        name: basic
        displayName: Basic
        stacks: [net, db, app, dns]
        defaultConfig:
          net:
            zones: 2
          db:
            vpcId: "{{RUNTIME:net:vpcId}}"
          app:
            dbEndpoint: "{{RUNTIME:db:endpoint}}"
        environments:
          dev: {region: us-east-1}
          stage: {region: us-east-1}
          prod: {region: us-west-2, enabled: false}
        """,
    "stacks/templates/other.yaml": """\
        name: other
        displayName: Other
        stacks: [net]
        defaultConfig:
          net:
            zones: 2
        environments:
          dev: {region: eu-west-1}
        """,
    "deployments/D000001-Acme-shop/manifest.yaml": """\
        # the shop
        version: "3.1"
        deploymentId: D000001
        organization: Acme
        project: shop
        domain: shop.example.com
        template: basic
        region: us-east-1
        accounts:
          dev: "111111111111"
          stage: "222222222222"
          prod: "333333333333"
        environments:
          dev: {enabled: true}
          stage: {enabled: true}
          prod: {enabled: false}
        stacks:
          db:
            config:
              size: 40
          app:
            config:
              banner: welcome
        contact:
          email: ops@example.com
        tags:
          Team: shop
        """,
    "deployments/D000002-Acme-blog/manifest.yaml": """\
        version: "3.1"
        deploymentId: D000002
        organization: Acme
        project: blog
        template: basic
        region: us-east-1
        accounts:
          dev: "444444444444"
        environments:
          dev: {enabled: true}
          stage: {enabled: false}
        stacks:
          net:
            config:
              zones: 3
        """,
    "deployments/D000003-Acme-lab/manifest.yaml": """\
        version: "3.1"
        deploymentId: D000003
        organization: Acme
        project: lab
        template: other
        region: eu-west-1
        accounts:
          dev: "555555555555"
        environments:
          dev: {enabled: true}
        """,
}
D1 = "deployments/D000001-Acme-shop/manifest.yaml"
D2 = "deployments/D000002-Acme-blog/manifest.yaml"
NEW_DEPLOYMENT = """\
version: "3.1"
deploymentId: D000004
organization: Acme
project: docs
template: basic
region: us-east-1
accounts:
  dev: "666666666666"
environments:
  dev: {enabled: true}
  stage: {enabled: false}
"""


class Repo:
    """A scenario's repo: edit files, commit, deploy, revert; ask for plans."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def cloud(self, *argv: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["--root", str(self.root), *argv])
        return code, out.getvalue(), err.getvalue()

    def edit(self, path: str, old: str, new: str) -> None:
        file = self.root / path
        text = file.read_text()
        assert old in text, f"{old!r} is not in {path}"
        file.write_text(text.replace(old, new, 1))

    def write(self, path: str, text: str) -> None:
        (self.root / path).parent.mkdir(parents=True, exist_ok=True)
        (self.root / path).write_text(text)

    def commit(self, message: str = "change") -> None:
        git(self.root, "add", "-A")
        git(self.root, "commit", "-qm", message)

    def plan(self, *argv: str) -> dict:
        code, out, err = self.cloud("plan", "--format", "json", *argv)
        assert code == 0, err
        return json.loads(out)

    def deploy_all(self) -> set[str]:
        """Deploy every environment with work, as the deploy workflow would; what ran."""
        ran: set[str] = set()
        for env in self.plan("--engine", "simulate")["environments"]:
            if not any(e["status"] in RUNNABLE for e in env["entries"]):
                continue
            short = env["deploymentId"].replace("D00000", "D")
            code, out, err = self.cloud(
                "deploy",
                env["deploymentId"],
                "-e",
                env["environment"],
                "--engine",
                "simulate",
                "--format",
                "json",
                "--parallel",
                "2",
            )
            assert code == 0, err
            report = json.loads(out)
            ran |= {
                f"{short}/{env['environment']}/{s['stack']}"
                for s in report["stacks"]
                if s["status"] == "succeeded"
            }
        return ran

    def held(self) -> set[str]:
        sim = self.root / ".cloud" / "sim"
        return {
            f"{p.parent.parent.name.replace('D00000', 'D')}/{p.parent.name}/{p.stem}"
            for p in sim.glob("*/*/*.json")
        }


RUNNABLE = ("new", "changed", "pending-upstream")


def selected(document: dict) -> set[str]:
    return {
        f"{e['deploymentId'].replace('D00000', 'D')}/{e['environment']}/{e['stack']}"
        for env in document["environments"]
        for e in env["entries"]
        if e["status"] in ("new", "changed")
    }


def removals(document: dict) -> set[str]:
    return {
        f"{env['deploymentId'].replace('D00000', 'D')}/{env['environment']}/{r['stack']}"
        for env in document["environments"]
        for r in env["removals"]
    }


def every(*deployment_envs: str, stacks: str = "net db app dns") -> set[str]:
    return {f"{de}/{stack}" for de in deployment_envs for stack in stacks.split()}


@dataclass(frozen=True)
class Scenario:
    change: Callable[[Repo], None]
    planned: set[str]
    ran: set[str] | None = None  # None: exactly what was planned
    removed: set[str] = field(default_factory=set)
    planned_git: set[str] | None = None  # when the base commit is not what is deployed
    base: str = "HEAD"


def _revert_deployed(repo: Repo) -> None:
    repo.edit(D1, "size: 40", "size: 50")
    repo.commit("grow")
    repo.deploy_all()
    git(repo.root, "revert", "--no-edit", "HEAD")


def _revert_undeployed(repo: Repo) -> None:
    repo.edit(D1, "size: 40", "size: 50")
    repo.commit("grow")
    git(repo.root, "revert", "--no-edit", "HEAD")


def _two_changes(repo: Repo) -> None:
    repo.edit(D1, "size: 40", "size: 50")
    repo.edit(D1, "Team: shop", "Team: retail")


def _noop_manifest(repo: Repo) -> None:
    repo.edit(D1, "# the shop\n", "# the shop, reviewed\n")  # a comment
    repo.edit(D1, "organization: Acme\nproject: shop", "project: shop\norganization: Acme")
    repo.edit(D1, "      banner: welcome", '      banner:   "welcome"   ')  # quoting, spaces
    repo.edit(D1, "  db:\n    config:\n", "  db:\n    config:\n      engine: postgres\n")


def _noop_stack_files(repo: Repo) -> None:
    repo.edit("stacks/net/stack.yaml", "name: net\n", "name: net  # the VPC\n")
    repo.edit("stacks/db/__main__.py", "cfg = pulumi.Config()", "cfg = pulumi.Config()  # own")
    repo.edit("stacks/app/__main__.py", "import pulumi\n", "import pulumi\n\n\n")
    repo.edit("stacks/requirements.txt", "pulumi==", "# SDK and provider\npulumi==")


def _project_renamed(repo: Repo) -> None:
    repo.edit(D1, "project: shop", "project: store")
    old = repo.root / "deployments/D000001-Acme-shop"
    shutil.move(old, old.with_name("D000001-Acme-store"))


SCENARIOS = {
    "config-value-in-one-stack": Scenario(
        lambda r: r.edit(D1, "size: 40", "size: 50"), {"D1/dev/db", "D1/stage/db"}
    ),
    "override-for-one-environment": Scenario(
        lambda r: r.edit(
            D1,
            "      size: 40\n",
            "      size: 40\n    environments:\n      stage:\n        config: {size: 60}\n",
        ),
        {"D1/stage/db"},
    ),
    "override-in-a-disabled-environment": Scenario(
        lambda r: r.edit(
            D1,
            "      size: 40\n",
            "      size: 40\n    environments:\n      prod:\n        config: {size: 80}\n",
        ),
        set(),
    ),
    "program-edit": Scenario(
        lambda r: r.edit("stacks/app/__main__.py", '"https://"', '"http://"'),
        {"D1/dev/app", "D1/stage/app", "D2/dev/app"},
    ),
    "template-default-edit": Scenario(  # D2 overrides zones; D3 is on another template
        lambda r: r.edit("stacks/templates/basic.yaml", "zones: 2", "zones: 3"),
        {"D1/dev/net", "D1/stage/net"},
    ),
    "upstream-output-consumed-changes": Scenario(
        lambda r: r.edit(
            D1, "stacks:\n", "stacks:\n  net:\n    config:\n      cidr: 10.1.0.0/16\n"
        ),
        {"D1/dev/net", "D1/stage/net"},
        ran=every("D1/dev", "D1/stage", stacks="net db app"),
    ),
    "upstream-outputs-consumed-unchanged": Scenario(
        lambda r: r.edit(D1, "stacks:\n", "stacks:\n  net:\n    config:\n      zones: 3\n"),
        {"D1/dev/net", "D1/stage/net"},  # db consumes vpcId only: it stays as it is
    ),
    "new-stack-in-a-manifest": Scenario(
        lambda r: r.edit(D1, "stacks:\n", "stacks:\n  extra: {}\n"),
        {"D1/dev/extra", "D1/stage/extra"},
    ),
    "new-deployment": Scenario(
        lambda r: r.write("deployments/D000004-Acme-docs/manifest.yaml", NEW_DEPLOYMENT),
        {"D4/dev/net", "D4/dev/db", "D4/dev/app", "D4/dev/dns"},
    ),
    "environment-enabled": Scenario(
        lambda r: r.edit(D1, "prod: {enabled: false}", "prod: {enabled: true}"), every("D1/prod")
    ),
    "stack-disabled": Scenario(
        lambda r: r.edit(D1, "stacks:\n", "stacks:\n  dns:\n    enabled: false\n"),
        set(),
        removed={"D1/dev/dns", "D1/stage/dns"},
    ),
    "deployment-folder-deleted": Scenario(
        lambda r: shutil.rmtree(r.root / "deployments/D000003-Acme-lab"),
        set(),
        removed={"D3/dev/net"},
    ),
    "environment-disabled": Scenario(
        lambda r: r.edit(D1, "stage: {enabled: true}", "stage: {enabled: false}"),
        set(),
        removed=every("D1/stage"),
    ),
    "provider-version-bump": Scenario(
        lambda r: r.edit("stacks/requirements.txt", "pulumi-aws==7.50.0", "pulumi-aws==7.51.1"),
        every("D1/dev", "D1/stage", "D2/dev") | {"D3/dev/net"},
    ),
    "no-op-manifest-edits": Scenario(_noop_manifest, set()),
    "no-op-stack-file-edits": Scenario(_noop_stack_files, set()),
    "tags-change": Scenario(
        lambda r: r.edit(D1, "Team: shop", "Team: retail"),
        every("D1/dev", "D1/stage", stacks="net app"),
    ),
    "contact-change": Scenario(
        lambda r: r.edit(D1, "email: ops@example.com", "email: shop@example.com"), set()
    ),
    "domain-change": Scenario(
        lambda r: r.edit(D1, "domain: shop.example.com", "domain: store.example.com"),
        {"D1/dev/dns", "D1/stage/dns"},
    ),
    "project-rename": Scenario(_project_renamed, set()),
    "two-changes-in-one-commit": Scenario(
        _two_changes, every("D1/dev", "D1/stage", stacks="net db app")
    ),
    "revert-of-a-deployed-change": Scenario(  # as its pull request is planned: against main
        _revert_deployed, {"D1/dev/db", "D1/stage/db"}, base="HEAD~1"
    ),
    "revert-of-an-undeployed-change": Scenario(
        _revert_undeployed,
        set(),  # what is deployed is what the revert restores
        planned_git={"D1/dev/db", "D1/stage/db"},  # against the commit being reverted
        base="HEAD~1",
    ),
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus repo, committed, with every enabled environment deployed."""
    root = tmp_path_factory.mktemp("corpus") / "repo"
    for path, text in FILES.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text) if path.endswith(".yaml") else text)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-qm", "deployed")
    ran = Repo(root).deploy_all()
    assert ran == every("D1/dev", "D1/stage", "D2/dev") | {"D3/dev/net"}
    return root


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, deployed: Path, tmp_path: Path) -> None:
    scenario = SCENARIOS[name]
    root = tmp_path / "repo"
    shutil.copytree(deployed, root, symlinks=True)
    repo = Repo(root)
    scenario.change(repo)
    held_before = repo.held()

    against_base = repo.plan("--base", scenario.base)
    against_records = repo.plan("--engine", "simulate")
    expected_git = scenario.planned if scenario.planned_git is None else scenario.planned_git
    assert selected(against_base) == expected_git
    assert selected(against_records) == scenario.planned
    assert removals(against_base) == scenario.removed
    assert removals(against_records) == scenario.removed

    ran = repo.deploy_all()
    assert ran == (scenario.planned if scenario.ran is None else scenario.ran)
    assert repo.held() >= held_before  # nothing was destroyed without --remove
    assert selected(repo.plan("--engine", "simulate")) == set()  # and now all is deployed


def test_deploy_destroys_what_is_no_longer_wanted_only_with_remove(deployed: Path, tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(deployed, root, symlinks=True)
    repo = Repo(root)
    repo.edit(D1, "stacks:\n", "stacks:\n  dns:\n    enabled: false\n")
    deploy = ("deploy", "D000001", "-e", "dev", "--engine", "simulate")

    code, _, err = repo.cloud(*deploy)
    assert code == 0, err
    assert "dns (disabled in environment dev)" in err and "--remove` destroys them" in err
    assert "D1/dev/dns" in repo.held()

    code, out, err = repo.cloud(*deploy, "--remove", "--format", "json")
    assert code == 0, err
    removal = json.loads(out)["removal"]
    assert [(s["stack"], s["status"]) for s in removal["stacks"]] == [("dns", "succeeded")]
    assert "D1/dev/dns" not in repo.held() and "D1/stage/dns" in repo.held()
    assert removals(repo.plan("--engine", "simulate")) == {"D1/stage/dns"}
