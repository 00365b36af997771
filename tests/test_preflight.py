"""Pre-flight checks at their seams: AWS's clients and the engine faked, never the logic."""

from __future__ import annotations

import pytest

from controller.adapters.preflight import CloudPreflight, SimulatedPreflight, preflight_for
from controller.engines.base import EngineError
from tests.fakes import FakeEngine


class NoCredentialsError(Exception):
    """What botocore raises when its credential chain finds nothing."""


class Clients:
    def __init__(self, *, account="111111111111", vpcs=2, limit=5, fail=None):
        self.account, self.vpcs, self.limit, self.fail = account, vpcs, limit, fail
        self.asked: list[tuple[str, str]] = []

    def __call__(self, service: str, region: str):
        self.asked.append((service, region))
        if self.fail is not None:
            raise self.fail
        return self

    def get_caller_identity(self):
        return {"Account": self.account, "Arn": f"arn:aws:iam::{self.account}:role/deploy"}

    def describe_vpcs(self):
        return {"Vpcs": [{}] * self.vpcs}

    def get_service_quota(self, *, ServiceCode, QuotaCode):  # boto3 names them so
        assert (ServiceCode, QuotaCode) == ("vpc", "L-F678F1CE")
        return {"Quota": {"Value": float(self.limit)}}


def test_credentials_of_the_right_account_pass_and_name_it():
    clients = Clients()
    result = CloudPreflight(FakeEngine, clients=clients).credentials(
        account="111111111111", region="eu-west-1"
    )
    assert result.status == "passed" and "111111111111" in result.message
    assert clients.asked == [("sts", "eu-west-1")]
    assert result.response_time_ms is not None


def test_credentials_of_another_account_fail_naming_both():
    result = CloudPreflight(FakeEngine, clients=Clients(account="999999999999")).credentials(
        account="111111111111", region="us-east-1"
    )
    assert result.status == "failed"
    assert "999999999999" in result.message and "111111111111" in result.message


def test_no_credentials_fail_and_say_what_was_missing():
    clients = Clients(fail=NoCredentialsError("Unable to locate credentials"))
    result = CloudPreflight(FakeEngine, clients=clients).credentials(account=None, region="x")
    assert result.status == "failed" and "Unable to locate credentials" in result.message


@pytest.mark.parametrize(
    ("vpcs", "limit", "status", "warned"),
    [(1, 5, "passed", False), (4, 5, "passed", True), (5, 5, "failed", False)],
)
def test_the_vpc_quota_is_read_and_compared(vpcs, limit, status, warned):
    result = CloudPreflight(FakeEngine, clients=Clients(vpcs=vpcs, limit=limit)).quotas(
        region="us-east-1"
    )
    assert result.status == status
    assert result.details["vpcs"] == {"used": vpcs, "limit": limit}
    assert bool(result.details.get("warnings")) == warned


def test_the_backend_is_read_through_the_engine():
    engine = FakeEngine()
    assert (
        CloudPreflight(lambda: engine).backend(deployment_id="D1BRV40", environment="dev").status
        == "passed"
    )

    class Down(FakeEngine):
        def list_instances(self, deployment_id, environment):
            raise EngineError("backend s3://bucket unreachable")

    failed = CloudPreflight(Down).backend(deployment_id="D1BRV40", environment="dev")
    assert failed.status == "failed" and "unreachable" in failed.message


def test_the_simulated_engine_skips_every_check_and_says_so():
    checks = SimulatedPreflight()
    for result in (
        checks.credentials(account="1", region="r"),
        checks.quotas(region="r"),
        checks.backend(deployment_id="D", environment="e"),
    ):
        assert result.status == "skipped" and "simulated" in result.message
    assert isinstance(preflight_for("simulate", FakeEngine), SimulatedPreflight)
    assert isinstance(preflight_for("pulumi", FakeEngine), CloudPreflight)
