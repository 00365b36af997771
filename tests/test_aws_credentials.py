"""Per-environment credentials: GitHub's OIDC token traded at STS (both faked by
`responses`), handed to that environment's engine only, renewed before they expire."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import responses

from controller.action.context import ActionError, ActionInputs, GitHubContext
from controller.action.engines import EnvironmentEngines
from controller.adapters.aws_credentials import (
    CredentialError,
    OidcRoleBroker,
    RoleCredentials,
    session_name,
)
from controller.core.catalog import load_snapshot
from controller.engines.pulumi_engine import PulumiEngine
from tests.conftest import REPO_ROOT

TOKEN_URL = "https://token.actions.example/.well-known/token?api-version=2.0"
ENV = {"ACTIONS_ID_TOKEN_REQUEST_URL": TOKEN_URL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": "req-t"}
STS_OK = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIA{n}</AccessKeyId>
      <SecretAccessKey>secret-{n}</SecretAccessKey>
      <SessionToken>session-{n}</SessionToken>
      <Expiration>2026-11-27T11:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"""
STS_DENIED = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>AccessDenied</Code>
  <Message>Not authorized to perform sts:AssumeRoleWithWebIdentity</Message></Error>
</ErrorResponse>"""
EXPIRES = 1_795_777_200.0  # 2026-11-27T11:00:00Z


@pytest.fixture
def mock():
    with responses.RequestsMock() as rsps:
        yield rsps


def fake_github_and_sts(mock, *, region="us-east-1"):
    assumed: list[dict[str, list[str]]] = []
    mock.get(
        TOKEN_URL + "&audience=sts.amazonaws.com",
        json={"value": "oidc.jwt.token"},
        match=[responses.matchers.header_matcher({"Authorization": "bearer req-t"})],
    )

    def sts(request):
        form = parse_qs(request.body)
        assumed.append(form)
        return 200, {}, STS_OK.format(n=len(assumed))

    mock.add_callback(responses.POST, f"https://sts.{region}.amazonaws.com/", callback=sts)
    return assumed


def test_a_job_without_an_oidc_token_has_no_broker():
    assert OidcRoleBroker.from_env({}) is None
    assert OidcRoleBroker.from_env(ENV) is not None


def test_the_oidc_token_is_traded_for_the_roles_credentials(mock):
    assumed = fake_github_and_sts(mock)
    broker = OidcRoleBroker.from_env(ENV)
    role = "arn:aws:iam::111111111111:role/cloud-deploy"
    credentials = broker.assume(role, region="us-east-1", name="cloud-deploy-D1BRV40-dev-99")
    assert credentials.access_key_id == "ASIA1" and credentials.expires_at == EXPIRES
    [form] = assumed
    assert form["Action"] == ["AssumeRoleWithWebIdentity"]
    assert form["RoleArn"] == [role]
    assert form["WebIdentityToken"] == ["oidc.jwt.token"]
    assert form["RoleSessionName"] == ["cloud-deploy-D1BRV40-dev-99"]
    assert credentials.env("us-east-1")["AWS_SESSION_TOKEN"] == "session-1"


def test_credentials_are_renewed_only_when_about_to_expire(mock):
    assumed = fake_github_and_sts(mock)
    now = [EXPIRES - 3000]
    broker = OidcRoleBroker.from_env(ENV)
    broker.clock = lambda: now[0]
    held = RoleCredentials(broker, "arn:aws:iam::1:role/x", region="us-east-1", name="n")
    assert held()["AWS_ACCESS_KEY_ID"] == "ASIA1"
    assert held()["AWS_ACCESS_KEY_ID"] == "ASIA1" and len(assumed) == 1
    now[0] = EXPIRES - 60  # a minute left: a stack starting now would outlive them
    assert held()["AWS_ACCESS_KEY_ID"] == "ASIA2" and len(assumed) == 2


def test_a_refused_role_says_to_check_its_trust_policy(mock):
    mock.get(TOKEN_URL + "&audience=sts.amazonaws.com", json={"value": "oidc.jwt.token"})
    mock.post("https://sts.eu-west-1.amazonaws.com/", status=403, body=STS_DENIED)
    broker = OidcRoleBroker.from_env(ENV)
    with pytest.raises(CredentialError, match=r"AccessDenied.*trust policy"):
        broker.assume("arn:aws:iam::1:role/x", region="eu-west-1", name="n")


def test_the_token_service_refusing_says_which_permission_is_missing(mock):
    mock.get(TOKEN_URL + "&audience=sts.amazonaws.com", status=403, json={})
    with pytest.raises(CredentialError, match="id-token: write"):
        OidcRoleBroker.from_env(ENV).id_token()


def test_session_names_are_what_sts_accepts():
    assert session_name("cloud", "deploy", "D1BRV40", "dev", "12") == "cloud-deploy-D1BRV40-dev-12"
    assert len(session_name("x" * 100)) == 64
    assert session_name("a b/c") == "a-b-c"


def test_each_environment_gets_its_own_accounts_role_and_nothing_else(mock, tmp_path):
    """The engine of D1BRV40/dev and of D2K7Q1M/prod hold different accounts' credentials;
    an ambient AWS key of the job reaches neither."""
    assumed = fake_github_and_sts(mock)
    fake_github_and_sts_region(mock, "eu-central-1", assumed)
    snapshot = load_snapshot(_repo_files())
    inputs = ActionInputs(command="run-environments", root=REPO_ROOT, engine="pulumi")
    engines = EnvironmentEngines(
        inputs, GitHubContext(run_id="7"), REPO_ROOT, phase="deploy", env=ENV
    )
    first = engines._credentials(snapshot.deployments["D1BRV40"], "dev")
    second = engines._credentials(snapshot.deployments["D2K7Q1M"], "prod")
    engine = PulumiEngine(
        state_root=tmp_path,
        backend_url="s3://state",
        env={"AWS_ACCESS_KEY_ID": "AMBIENT", "AWS_PROFILE": "admin", "PULUMI_X": "1"},
        credentials=first,
        require_cli=False,
    )
    env = engine._env()
    assert env["AWS_ACCESS_KEY_ID"] == "ASIA1" and "AWS_PROFILE" not in env
    assert env["PULUMI_X"] == "1"
    second()
    roles = [form["RoleArn"][0] for form in assumed]
    assert roles == [
        "arn:aws:iam::111111111111:role/cloud-deploy",
        "arn:aws:iam::555555555555:role/cloud-deploy",
    ]
    plan = EnvironmentEngines(inputs, GitHubContext(), REPO_ROOT, phase="plan", env=ENV)
    assert plan.role_of(snapshot.deployments["D2K7Q1M"], "prod") == (
        "arn:aws:iam::555555555555:role/cloud-plan"
    )


def test_assuming_a_role_without_the_oidc_permission_is_a_clear_error():
    snapshot = load_snapshot(_repo_files())
    inputs = ActionInputs(command="plan", root=REPO_ROOT, engine="pulumi")
    engines = EnvironmentEngines(inputs, GitHubContext(), REPO_ROOT, phase="plan", env={})
    with pytest.raises(ActionError, match="id-token: write"):
        engines._credentials(snapshot.deployments["D1BRV40"], "dev")


def fake_github_and_sts_region(mock, region, assumed):
    def sts(request):
        assumed.append(parse_qs(request.body))
        return 200, {}, STS_OK.format(n=len(assumed))

    mock.add_callback(responses.POST, f"https://sts.{region}.amazonaws.com/", callback=sts)


def _repo_files():
    from controller.adapters.local_repo import LocalRepo

    return LocalRepo(REPO_ROOT).catalog_files()
