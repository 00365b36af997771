"""webhookUrl callbacks: only public https receivers, pinned to the checked address."""

from __future__ import annotations

import ipaddress

import pytest

from controller.adapters.callbacks import (
    CallbackFailedError,
    CallbackRefusedError,
    CallbackSender,
    check_url,
)


def resolver(table):
    """Like getaddrinfo: an IP literal is its own address, an unknown name fails."""

    def resolve(host, port):
        try:
            ipaddress.ip_address(host)
            return [host]
        except ValueError:
            if host not in table:
                raise OSError(f"Name or service not known: {host}") from None
            return table[host]

    return resolve


PUBLIC = resolver(
    {
        "hooks.example.com": ["93.184.216.34"],
        "rebind.example.com": ["10.0.0.5"],
        "mixed.example.com": ["93.184.216.34", "127.0.0.1"],
        "v6.example.com": ["::1"],
        "meta.example.com": ["169.254.169.254"],
        "receiver.test": ["127.0.0.1"],
    }
)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.com/x", "must be an https:// URL"),
        ("https://user:pw@hooks.example.com/x", "no credentials"),
        ("https://rebind.example.com/x", "10.0.0.5, a non-public address"),
        ("https://mixed.example.com/x", "127.0.0.1, a non-public address"),
        ("https://v6.example.com/x", "::1, a non-public address"),
        ("https://meta.example.com/latest", "169.254.169.254, a non-public address"),
        ("https://169.254.169.254/latest", "169.254.169.254, a non-public address"),
        ("https://nowhere.example.com/x", "does not resolve"),
    ],
)
def test_unsafe_urls_are_refused(url, message):
    with pytest.raises(CallbackRefusedError, match=message.replace(".", r"\.").replace("?", r"\?")):
        check_url(url, resolve=PUBLIC)


def test_a_public_https_url_is_accepted_and_pinned_to_its_address():
    target = check_url("https://hooks.example.com:8443/ops?x=1", resolve=PUBLIC)
    assert (target.host, target.port, target.path, target.address) == (
        "hooks.example.com",
        8443,
        "/ops?x=1",
        "93.184.216.34",
    )


def test_the_allow_list_admits_an_internal_receiver():
    target = check_url("https://receiver.test/cb", allow_hosts={"receiver.test"}, resolve=PUBLIC)
    assert target.address == "127.0.0.1"


class Response:
    def __init__(self, status):
        self.status = status


class Pool:
    """Records what would be sent; answers from a script of statuses."""

    def __init__(self, statuses):
        self.statuses = list(statuses)
        self.requests = []

    def factory(self, target, timeout):
        self.target = target
        return self

    def urlopen(self, method, path, **kwargs):
        self.requests.append((method, path, kwargs))
        return Response(self.statuses.pop(0))


def test_a_callback_is_posted_as_json_to_the_checked_address():
    pool = Pool([200])
    sender = CallbackSender(resolve=PUBLIC, pool_factory=pool.factory)
    assert sender.send("https://hooks.example.com/ops", {"status": "success"}) == 200
    method, path, kwargs = pool.requests[0]
    assert (method, path) == ("POST", "/ops")
    assert kwargs["body"] == b'{"status": "success"}'
    assert kwargs["redirect"] is False and kwargs["headers"]["Host"] == "hooks.example.com"
    assert pool.target.address == "93.184.216.34"


def test_server_errors_are_retried_with_backoff_then_reported():
    sleeps = []
    pool = Pool([503, 502, 500])
    sender = CallbackSender(resolve=PUBLIC, pool_factory=pool.factory, sleep=sleeps.append)
    with pytest.raises(CallbackFailedError, match="answered 500 \\(after 3 attempt"):
        sender.send("https://hooks.example.com/ops", {})
    assert sleeps == [2.0, 4.0]


def test_a_refusal_by_the_receiver_is_not_retried():
    pool = Pool([404])
    sender = CallbackSender(resolve=PUBLIC, pool_factory=pool.factory, sleep=lambda s: None)
    with pytest.raises(CallbackFailedError, match="answered 404 \\(after 1 attempt"):
        sender.send("https://hooks.example.com/ops", {})
