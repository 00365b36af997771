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
        ("https://rebind.example.com/x", "rebind.example.com is not a public address"),
        ("https://mixed.example.com/x", "mixed.example.com is not a public address"),
        ("https://v6.example.com/x", "v6.example.com is not a public address"),
        ("https://meta.example.com/latest", "meta.example.com is not a public address"),
        ("https://169.254.169.254/latest", "169.254.169.254 is not a public address"),
        ("https://nowhere.example.com/x", "does not resolve"),
    ],
)
def test_unsafe_urls_are_refused(url, message):
    with pytest.raises(CallbackRefusedError, match=message.replace(".", r"\.").replace("?", r"\?")):
        check_url(url, resolve=PUBLIC)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("100.64.0.1", id="shared-space-rfc6598"),
        pytest.param("100.100.100.200", id="alibaba-metadata-in-shared-space"),
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("127.1.2.3", id="loopback-range"),
        pytest.param("0.0.0.0", id="unspecified"),
        pytest.param("10.1.2.3", id="private-10"),
        pytest.param("172.16.0.1", id="private-172"),
        pytest.param("192.168.1.1", id="private-192"),
        pytest.param("169.254.169.254", id="link-local-metadata"),
        pytest.param("192.0.2.1", id="documentation"),
        pytest.param("198.18.0.1", id="benchmarking"),
        pytest.param("224.0.0.1", id="multicast-v4"),
        pytest.param("240.0.0.1", id="reserved"),
        pytest.param("255.255.255.255", id="broadcast"),
        pytest.param("::1", id="loopback-v6"),
        pytest.param("::", id="unspecified-v6"),
        pytest.param("fe80::1", id="link-local-v6"),
        pytest.param("fe80::1%eth0", id="link-local-v6-with-zone"),
        pytest.param("fc00::1", id="unique-local-v6"),
        pytest.param("ff0e::1", id="multicast-v6"),
        pytest.param("2001:db8::1", id="documentation-v6"),
        pytest.param("::ffff:127.0.0.1", id="ipv4-mapped-loopback"),
        pytest.param("::ffff:169.254.169.254", id="ipv4-mapped-metadata"),
        pytest.param("::ffff:100.64.0.1", id="ipv4-mapped-shared"),
        pytest.param("2002:7f00:1::", id="6to4-loopback"),
        pytest.param("2002:a9fe:a9fe::1", id="6to4-metadata"),
        pytest.param("2002:a00:1::", id="6to4-private"),
        pytest.param("2002:6440:1::", id="6to4-shared"),
        pytest.param("2001:0:4136:e378:8000:63bf:3fff:fdd2", id="teredo"),
        pytest.param("2001:0:5db8:d822:0:ffff:80ff:fffe", id="teredo-client-loopback"),
        pytest.param("64:ff9b::7f00:1", id="nat64-loopback"),
        pytest.param("64:ff9b::a9fe:a9fe", id="nat64-metadata"),
        pytest.param("64:ff9b::6440:1", id="nat64-shared"),
        pytest.param("64:ff9b:1::5db8:d822", id="nat64-local-use-prefix"),
    ],
)
def test_an_address_that_is_not_globally_routable_is_refused_without_naming_it(address):
    table = resolver({"inside.example.com": [address]})
    with pytest.raises(CallbackRefusedError) as refused:
        check_url("https://inside.example.com/hook", resolve=table)
    assert "inside.example.com is not a public address" in str(refused.value)
    assert address.split("%")[0] not in str(refused.value)


@pytest.mark.parametrize(
    "address",
    [
        pytest.param("93.184.216.34", id="public-v4"),
        pytest.param("2606:4700::1111", id="public-v6"),
        pytest.param("::ffff:93.184.216.34", id="ipv4-mapped-public"),
        pytest.param("2002:5db8:d822::1", id="6to4-public"),
        pytest.param("64:ff9b::5db8:d822", id="nat64-public"),
    ],
)
def test_a_globally_routable_address_is_accepted(address):
    table = resolver({"hooks.example.org": [address]})
    assert check_url("https://hooks.example.org/x", resolve=table).address == address


def test_an_ip_literal_host_in_shared_space_is_refused():
    with pytest.raises(CallbackRefusedError, match=r"100\.64\.0\.1 is not a public address"):
        check_url("https://100.64.0.1/", resolve=PUBLIC)


def test_a_redirect_to_a_refused_host_is_not_followed():
    pool = Pool([302])
    sender = CallbackSender(resolve=PUBLIC, pool_factory=pool.factory, sleep=lambda s: None)
    with pytest.raises(CallbackFailedError, match="answered 302"):
        sender.send("https://hooks.example.com/ops", {})
    assert pool.requests[0][2]["redirect"] is False and len(pool.requests) == 1


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


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/",
        "https://0x7f000001/",
        "https://2130706433/",
        "https://127.1/",
        "https://0177.0.0.1/",
        "https://[::1]/",
        "https://[::ffff:127.0.0.1]/",
        "https://[2002:7f00:1::]/",
    ],
)
def test_every_spelling_of_loopback_is_refused_by_the_system_resolver(url):
    with pytest.raises(CallbackRefusedError, match="is not a public address"):
        check_url(url)
