"""Pre-flight checks of what a deploy needs outside the repo: the cloud credentials of an
environment's account, its quotas, and the engine's backend.

With the Pulumi engine they are real: AWS STS says whose credentials these are (and so
which account a deploy would touch), EC2 and Service Quotas how many VPCs are used of how
many allowed, and the backend is read through the engine. With the simulated engine no
cloud account and no Pulumi backend is involved, so every check says "skipped:
simulated" rather than pretending to pass. AWS is reached through boto3 (its credential
chain: environment, profile, SSO, web identity for GitHub's OIDC, instance metadata),
built by a factory the tests replace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from controller.engines.base import Engine, EngineError

Status = Literal["passed", "failed", "skipped"]
SIMULATED = "skipped: simulated engine (no cloud account and no Pulumi backend are used)"
VPC_QUOTA = ("vpc", "L-F678F1CE")  # Service Quotas: VPCs per Region


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    response_time_ms: float | None = None


class Preflight(Protocol):
    simulated: bool

    def credentials(self, *, account: str | None, region: str) -> CheckResult: ...

    def quotas(self, *, region: str) -> CheckResult: ...

    def backend(self, *, deployment_id: str, environment: str) -> CheckResult: ...


class SimulatedPreflight:
    """The simulated engine's answer to every check: skipped, and why."""

    simulated = True

    def credentials(self, *, account: str | None, region: str) -> CheckResult:
        return CheckResult("credentials", "skipped", SIMULATED)

    def quotas(self, *, region: str) -> CheckResult:
        return CheckResult("quotas", "skipped", SIMULATED)

    def backend(self, *, deployment_id: str, environment: str) -> CheckResult:
        return CheckResult("backend", "skipped", SIMULATED)


def boto3_client(service: str, region: str) -> Any:  # pragma: no cover - the real network
    import boto3

    return boto3.client(service, region_name=region)


class CloudPreflight:
    """The checks against AWS and the engine's backend."""

    simulated = False

    def __init__(
        self,
        engine: Callable[[], Engine],
        *,
        clients: Callable[[str, str], Any] = boto3_client,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.clients = clients
        self.monotonic = monotonic

    def credentials(self, *, account: str | None, region: str) -> CheckResult:
        started = self.monotonic()
        try:
            identity = self.clients("sts", region).get_caller_identity()
        except Exception as error:  # botocore's errors: no credentials, expired, denied
            return self._failed("credentials", error, started)
        actual = str(identity.get("Account", ""))
        details = {"accountId": actual, "arn": identity.get("Arn")}
        elapsed = self._ms(started)
        if account and actual != account:
            return CheckResult(
                "credentials",
                "failed",
                f"the AWS credentials are for account {actual}, but the environment deploys "
                f"to {account}",
                details | {"expectedAccountId": account},
                elapsed,
            )
        return CheckResult(
            "credentials", "passed", f"AWS credentials valid for account {actual}", details, elapsed
        )

    def quotas(self, *, region: str) -> CheckResult:
        started = self.monotonic()
        try:
            used = len(self.clients("ec2", region).describe_vpcs().get("Vpcs", []))
            service, code = VPC_QUOTA
            quota = self.clients("service-quotas", region).get_service_quota(
                ServiceCode=service, QuotaCode=code
            )
            limit = int(quota["Quota"]["Value"])
        except Exception as error:
            return self._failed("quotas", error, started)
        details = {"vpcs": {"used": used, "limit": limit}}
        elapsed = self._ms(started)
        if used >= limit:
            return CheckResult(
                "quotas", "failed", f"VPC limit reached: {used}/{limit} used", details, elapsed
            )
        warnings = [f"VPC limit: {used}/{limit} used"] if used >= 0.8 * limit else []
        return CheckResult(
            "quotas",
            "passed",
            f"VPCs: {used}/{limit} used in {region}",
            details | {"warnings": warnings},
            elapsed,
        )

    def backend(self, *, deployment_id: str, environment: str) -> CheckResult:
        started = self.monotonic()
        try:
            stacks = self.engine().list_instances(deployment_id, environment)
        except EngineError as error:
            return self._failed("backend", error, started)
        return CheckResult(
            "backend",
            "passed",
            f"the Pulumi backend answers: {len(stacks)} stack(s) of {deployment_id} / "
            f"{environment}",
            {"stacks": len(stacks)},
            self._ms(started),
        )

    def _failed(self, name: str, error: Exception, started: float) -> CheckResult:
        code = (
            getattr(error, "response", {}).get("Error", {}).get("Code")
            if hasattr(error, "response")
            else None
        )
        text = f"{type(error).__name__}: {error}"
        return CheckResult(
            name, "failed", text, {"errorCode": code} if code else {}, self._ms(started)
        )

    def _ms(self, started: float) -> float:
        return round((self.monotonic() - started) * 1000, 1)


def preflight_for(engine_name: str, engine: Callable[[], Engine]) -> Preflight:
    """Real checks with the Pulumi engine, "skipped: simulated" with the simulated one."""
    return CloudPreflight(engine) if engine_name == "pulumi" else SimulatedPreflight()
