"""Run a stack's real Pulumi program under Pulumi's mock runtime, in a child process.

The simulated engine and the catalog's tests need to know what a program *would* do:
which resources it registers, with which inputs, and what it exports. Pulumi's mock
runtime (`pulumi.runtime.set_mocks`) answers that without a CLI or a cloud account. The
runtime keeps process-wide state (settings, root stack, mocks), so every run gets a fresh
interpreter: `run_program` starts `python -m controller.engines.mock_runtime`, sends the
request as JSON on stdin and reads the result as JSON from stdout.

The mock answers every resource with its inputs plus the attributes AWS would compute
(`arn`, `id`, names, endpoints…), derived deterministically from the resource's URN, so
two runs of an unchanged program give identical outputs and a dependent can be skipped.
Secret inputs are kept only as a hash, so no secret is written to the simulator's state.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SECRET_MARK = "[secret]"
UNKNOWN_MARK = "[unknown]"
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
_UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


@dataclass
class MockResource:
    urn: str
    type: str
    name: str
    id: str
    inputs: dict[str, Any]
    custom: bool = True


@dataclass
class ProgramResult:
    """What a program registered and exported. Secret output values are present here (the
    engine needs them to feed dependents); `secret_outputs` says which ones to mask."""

    resources: list[MockResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    secret_outputs: list[str] = field(default_factory=list)
    logs: list[dict[str, str]] = field(default_factory=list)
    error: str | None = None
    duration: float = 0.0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgramResult:
        resources = [MockResource(**item) for item in data.get("resources", [])]
        return cls(**{**data, "resources": resources})


@dataclass(frozen=True)
class ProgramRequest:
    program_dir: str
    project: str
    stack: str
    config: dict[str, str]
    secret_keys: list[str] = field(default_factory=list)
    preview: bool = False
    known_ids: dict[str, str] = field(default_factory=dict)
    region: str = "us-east-1"
    account: str = "123456789012"


class ProgramRunError(RuntimeError):
    """The child process itself failed (not the program): timeout, crash, bad output."""


def run_program(
    request: ProgramRequest, *, timeout: float = 120.0, env: Mapping[str, str] | None = None
) -> ProgramResult:
    """Run one program in a fresh interpreter (with `env` added to its environment) and
    return what it did."""
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "controller.engines.mock_runtime"],
            input=json.dumps(asdict(request)),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            start_new_session=True,  # a terminal's Ctrl-C stops scheduling, not this stack
            env={**os.environ, **env} if env else None,
        )
    except subprocess.TimeoutExpired:
        raise ProgramRunError(
            f"program {request.program_dir} did not finish within {timeout:.0f}s"
        ) from None
    try:
        return ProgramResult.from_dict(json.loads(completed.stdout))
    except (json.JSONDecodeError, TypeError):
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-5:]
        raise ProgramRunError(
            f"mock runtime crashed (exit {completed.returncode}): " + " | ".join(tail)
        ) from None


# --- everything below runs in the child process ---------------------------------------------


def _run_in_this_process(request: ProgramRequest) -> ProgramResult:
    started = time.monotonic()
    import runpy

    import pulumi
    from pulumi.runtime import mocks
    from pulumi.runtime.settings import get_root_resource
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    result = ProgramResult()
    records = _LogRecords(result.logs)
    logger = logging.getLogger("controller.mock_runtime.program")
    logger.addHandler(records)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False

    local = threading.local()
    resources: dict[str, MockResource] = {}

    class Monitor(mocks.MockMonitor):
        def RegisterResource(self, request_):  # Pulumi's gRPC method name
            local.urn = self.make_urn(request_.parent, request_.type, request_.name)
            return super().RegisterResource(request_)

    class Mocks(pulumi.runtime.Mocks):
        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            urn = getattr(local, "urn", f"{args.typ}::{args.name}")
            resource_id = request.known_ids.get(urn) or _fake_id(args.typ, args.name, urn)
            state = {
                **args.inputs,
                **_computed(
                    args.typ, args.name, args.inputs, resource_id, request.region, request.account
                ),
            }
            resources[urn] = MockResource(
                urn, args.typ, args.name, resource_id, _plain(args.inputs), bool(args.custom)
            )
            return resource_id, state

        def call(self, args: Any) -> dict[str, Any]:
            raise RuntimeError(
                f"the program called the data source {args.token}; stack programs take every "
                "input as config so they run under the simulator"
            )

    pulumi.runtime.set_all_config(request.config, secret_keys=request.secret_keys)
    monitor = Monitor(Mocks())
    pulumi.runtime.set_mocks(
        Mocks(),
        project=request.project,
        stack=request.stack,
        preview=request.preview,
        logger=logger,
        monitor=monitor,
    )
    program = Path(request.program_dir) / "__main__.py"
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            _sync_await(run_pulumi_func(lambda: runpy.run_path(str(program), run_name="__main__")))
            root = get_root_resource()
            for name, value in (root.outputs if root is not None else {}).items():
                plain, secret = _sync_await(_resolve(pulumi.Output.from_input(value)))
                result.outputs[name] = _plain(plain)
                if secret:
                    result.secret_outputs.append(name)
    except Exception as error:  # the program's failure is the result, not a crash
        result.error = _describe(error)
    result.logs += [{"level": "info", "message": line} for line in printed.getvalue().splitlines()]
    result.resources = sorted(resources.values(), key=lambda r: r.urn)
    result.duration = time.monotonic() - started
    return result


async def _resolve(output: Any) -> tuple[Any, bool]:
    value = await output.future(with_unknowns=True)
    return value, bool(await output.is_secret())


class _LogRecords(logging.Handler):
    def __init__(self, sink: list[dict[str, str]]) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        level = {"WARNING": "warning", "ERROR": "error", "DEBUG": "debug"}.get(
            record.levelname, "info"
        )
        self.sink.append({"level": level, "message": record.getMessage()})


def _describe(error: BaseException) -> str:
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename.endswith("__main__.py")
    ]
    where = f" (at __main__.py line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


_ID_PREFIXES = {
    "aws:ec2/vpc:Vpc": "vpc-",
    "aws:ec2/subnet:Subnet": "subnet-",
    "aws:ec2/securityGroup:SecurityGroup": "sg-",
    "aws:ec2/internetGateway:InternetGateway": "igw-",
    "aws:ec2/natGateway:NatGateway": "nat-",
    "aws:ec2/eip:Eip": "eipalloc-",
    "aws:ec2/routeTable:RouteTable": "rtb-",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt-",
    "aws:kms/key:Key": "",
}


def _fake_id(type_: str, name: str, urn: str) -> str:
    digest = _digest(urn)
    if type_ in _ID_PREFIXES:
        prefix = _ID_PREFIXES[type_]
        return (
            f"{prefix}{digest[:17]}" if prefix else f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}"
        )
    if type_ == "aws:route53/zone:Zone":
        return "Z" + digest[:13].upper()
    return f"{name}-{digest[:8]}"


def _computed(
    type_: str, name: str, inputs: dict[str, Any], resource_id: str, region: str, account: str
) -> dict[str, Any]:
    """The attributes AWS computes, made up deterministically from the resource."""
    module = type_.split(":")[1] if type_.count(":") >= 2 else "resource"
    service = module.split("/")[0]
    kind = module.split("/")[-1] if "/" in module else module
    physical = inputs.get("name") or inputs.get("namePrefix", "") + resource_id
    digest = _digest(resource_id)
    host = f"{physical}.{digest[:10]}.{region}.amazonaws.com".lower()
    return {
        "id": resource_id,
        "arn": f"arn:aws:{service}:{region}:{account}:{kind.lower()}/{physical}",
        "name": physical,
        "keyId": resource_id,
        "dnsName": host,
        "endpoint": f"{host}:5432" if service == "rds" else f"https://{host}",
        "address": host,
        "port": inputs.get("port", 5432),
        "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{physical}",
        "registryId": account,
        "nameServers": [f"ns-{int(digest[i : i + 3], 16) % 2048}.awsdns-{i}.org" for i in (0, 3)],
        "zoneId": resource_id,
        "clientSecret": digest[:40],
        "apiEndpoint": f"https://{digest[:10]}.execute-api.{region}.amazonaws.com",
        "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/functions/{physical}/invocations",
        "executionArn": f"arn:aws:execute-api:{region}:{account}:{digest[:10]}",
        "masterUserSecrets": [
            {
                "secretArn": f"arn:aws:secretsmanager:{region}:{account}:secret:rds!{physical}",
                "secretStatus": "active",
            }
        ],
        "certificateAuthority": {"data": digest},
        "ownerId": account,
    } | {key: value for key, value in inputs.items() if value is not None}


def _plain(value: Any) -> Any:
    """A JSON-safe copy: secrets as a hash, assets by content hash, unknowns marked."""
    import pulumi

    if isinstance(value, dict):
        if value.get(_SIG_KEY) == _SECRET_SIG:
            return {SECRET_MARK: _digest(json.dumps(_plain(value.get("value")), sort_keys=True))}
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if value == _UNKNOWN:
        return UNKNOWN_MARK
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "string", "sha256": _digest(value.text)}
    if isinstance(value, pulumi.FileAsset | pulumi.FileArchive):
        return {"asset": "file", "path": str(value.path)}
    if isinstance(value, pulumi.RemoteAsset | pulumi.RemoteArchive):
        return {"asset": "remote", "uri": value.uri}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {key: _plain(item) for key, item in sorted(value.assets.items())}}
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _main() -> None:
    request = ProgramRequest(**json.loads(sys.stdin.read()))
    result = _run_in_this_process(request)
    sys.stdout.write(json.dumps(asdict(result)))


if __name__ == "__main__":
    _main()
