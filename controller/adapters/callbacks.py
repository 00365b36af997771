"""Operation results POSTed to a caller's `webhookUrl`, without becoming an SSRF tool.

Only `https` URLs are accepted. The host is resolved once, and every address it resolves
to must be globally routable (`is_global`, and not multicast): that leaves out private,
loopback, link-local, reserved and unspecified space, and also what Python does not call
private, such as RFC 6598 shared space (100.64.0.0/10: carrier NAT, some clouds' metadata
services). An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, Teredo, NAT64) is
judged by the address it carries too, so `2002:7f00:1::` is loopback. The host on the
configured allow-list (tests, internal receivers) skips the check. A refusal names the
host, never what it resolved to: the answer must not become a way to read internal DNS.
The connection then goes to the address that was checked, with TLS verified against the
host name, so a DNS answer that changes between the check and the request (rebinding)
cannot redirect it. Redirects are not followed. Failures are retried with backoff, then
reported.
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
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052, the well-known prefix
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215, local use: never public


def carried_addresses(ip: IPAddress) -> list[IPAddress]:
    """The address itself and every IPv4 address its IPv6 form carries (mapped, 6to4,
    Teredo server and client, NAT64). A purely computational function."""
    found: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            found.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            found.append(ip.sixtofour)
        if ip.teredo is not None:
            found += list(ip.teredo)
        if ip in NAT64_PREFIX:
            found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def is_public(address: str) -> bool:
    """Whether a connection to `address` reaches the public internet only."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone id is link-local anyway
    except ValueError:
        return False
    if "%" in address or ip in NAT64_LOCAL:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # the IPv4 address is where the connection goes
    return all(each.is_global and not each.is_multicast for each in carried_addresses(ip))


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
    except OSError:
        raise CallbackRefusedError(f"webhookUrl host {host} does not resolve") from None
    if not addresses:
        raise CallbackRefusedError(f"webhookUrl host {host} has no address")
    if host not in set(allow_hosts) and not all(is_public(address) for address in addresses):
        raise CallbackRefusedError(
            f"webhookUrl host {host} is not a public address (callbacks go to the public "
            "internet only; an internal receiver must be on CLOUD_CALLBACK_ALLOW_HOSTS)"
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
