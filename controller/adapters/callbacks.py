"""Operation results POSTed to a caller's `webhookUrl`, without becoming an SSRF tool.

Only `https` URLs are accepted. The host is resolved once; if any of its addresses is
private, loopback, link-local, multicast, reserved or unspecified the call is refused
(unless the host is on the configured allow-list, for tests and internal receivers). The
connection then goes to the address that was checked, with TLS verified against the host
name, so a DNS answer that changes between the check and the request (rebinding) cannot
redirect it. Redirects are not followed. Failures are retried with backoff, then reported.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import urllib3


class CallbackRefusedError(ValueError):
    """The URL is not one we may call."""


class CallbackFailedError(RuntimeError):
    """The receiver did not accept the callback after every attempt."""


Resolver = Callable[[str, int], list[str]]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str, *, allow_hosts: Iterable[str] = (), resolve: Resolver = _resolve) -> Target:
    """Parse and vet a callback URL; `CallbackRefusedError` says why it is refused."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise CallbackRefusedError("webhookUrl must be an https:// URL")
    if not parts.hostname or parts.username or parts.password:
        raise CallbackRefusedError("webhookUrl must name a host and carry no credentials")
    host = parts.hostname.lower()
    port = parts.port or 443
    try:
        addresses = resolve(host, port)
    except OSError as error:
        raise CallbackRefusedError(f"webhookUrl host {host} does not resolve: {error}") from None
    if not addresses:
        raise CallbackRefusedError(f"webhookUrl host {host} has no address")
    if host not in set(allow_hosts):
        for address in addresses:
            ip = ipaddress.ip_address(address)
            if (
                ip.is_private
                or ip.is_loopback
                or ip.is_link_local
                or ip.is_multicast
                or ip.is_reserved
                or ip.is_unspecified
            ):
                raise CallbackRefusedError(
                    f"webhookUrl host {host} resolves to {address}, a non-public address"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, host, port, path, addresses[0])


@dataclass
class CallbackSender:
    allow_hosts: frozenset[str] = frozenset()
    attempts: int = 3
    timeout: float = 10.0
    backoff: float = 2.0
    resolve: Resolver = _resolve
    sleep: Callable[[float], None] = time.sleep
    pool_factory: Callable[[Target, float], Any] | None = None
    sent: list[str] = field(default_factory=list, repr=False)

    def send(self, url: str, payload: dict[str, Any]) -> int:
        """POST `payload` as JSON; return the status, or raise after the last attempt."""
        target = check_url(url, allow_hosts=self.allow_hosts, resolve=self.resolve)
        body = json.dumps(payload).encode()
        last = ""
        for attempt in range(1, self.attempts + 1):
            try:
                pool = (self.pool_factory or _pool)(target, self.timeout)
                response = pool.urlopen(
                    "POST",
                    target.path,
                    body=body,
                    redirect=False,
                    retries=False,
                    headers={
                        "Content-Type": "application/json",
                        "Host": target.host,
                        "User-Agent": "cloud-controller",
                    },
                )
                if 200 <= response.status < 300:
                    self.sent.append(url)
                    return response.status
                last = f"answered {response.status}"
                if response.status < 500 and response.status != 429:
                    break  # the receiver refuses it: retrying will not help
            except urllib3.exceptions.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            if attempt < self.attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
        raise CallbackFailedError(f"webhookUrl {target.host} {last} (after {attempt} attempt(s))")


def _pool(target: Target, timeout: float) -> Any:
    return urllib3.HTTPSConnectionPool(
        target.address,
        port=target.port,
        server_hostname=target.host,
        assert_hostname=target.host,
        timeout=urllib3.Timeout(total=timeout),
        cert_reqs="CERT_REQUIRED",
        maxsize=1,
    )
