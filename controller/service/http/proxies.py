"""Who the client is, behind the proxies we were told to trust (`CLOUD_TRUSTED_PROXIES`).

The rate limiter counts anonymous callers and failed sign-ins per client address, and
the audit log records it, so the address must be one the client cannot choose. A
`X-Forwarded-For` header is anyone's to write: it is read only when the connection
comes from a configured proxy (an address or a network), and then from the right, the
way proxies append to it, skipping the trusted hops; the first address that is not a
trusted proxy is the client. With no proxies configured (the default) the header is
ignored and the client is the connection's peer, whatever relays on the host (a
sidecar, a port-forward) put in it. `cloud serve` turns uvicorn's own proxy handling off
(it trusted any loopback peer), so this is the one place that decides, for HTTP and
WebSocket alike; `X-Forwarded-Proto` from a trusted proxy sets the scheme.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}


def proxy_networks(entries: Iterable[str]) -> list[Network]:
    """The networks of `CLOUD_TRUSTED_PROXIES` entries (an address is a /32 or /128);
    `ValueError` naming the first entry that is neither."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return networks


def _address(hop: str) -> str:
    """The address of one `X-Forwarded-For` hop (`1.2.3.4`, `1.2.3.4:80`, `[::1]:80`)."""
    hop = hop.strip()
    if hop.startswith("["):
        return hop[1:].split("]", 1)[0]
    if hop.count(":") == 1:
        return hop.split(":", 1)[0]
    return hop


def forwarded_client(headers: list[str], trusted: Callable[[str], bool]) -> str | None:
    """From the `X-Forwarded-For` header(s): the rightmost hop that is not a trusted proxy
    (the leftmost if all are), or None when they name nothing. A purely computational
    function."""
    hops = [hop for header in headers for hop in header.split(",")]
    addresses = [_address(hop) for hop in hops if hop.strip()]
    for address in reversed(addresses):
        if not trusted(address):
            return address[:64]
    return addresses[0][:64] if addresses else None


class ForwardedClientMiddleware:
    def __init__(self, app: ASGIApp, *, trusted: Iterable[str]) -> None:
        self.app = app
        self.networks = proxy_networks(trusted)

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and self.trusts(peer[0]):
                forwarded: list[str] = []
                proto = None
                for name, value in scope["headers"]:
                    if name == b"x-forwarded-for":
                        forwarded.append(value.decode("latin-1"))
                    elif name == b"x-forwarded-proto":
                        proto = value.decode("latin-1").strip().lower()
                client = forwarded_client(forwarded, self.trusts)
                if client is not None:
                    scope["client"] = (client, 0)
                if proto in SCHEMES:
                    web, socket = SCHEMES[proto]
                    scope["scheme"] = socket if scope["type"] == "websocket" else web
        await self.app(scope, receive, send)
