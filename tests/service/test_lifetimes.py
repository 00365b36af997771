"""How long a new credential may live, by who makes it (a purely computational table)."""

from __future__ import annotations

import pytest

from controller.service.auth.authentication import Principal
from controller.service.auth.lifetimes import (
    LifetimeLimits,
    LifetimeTooLongError,
    credential_lifetime,
)
from controller.service.http.envelope import iso_at

NOW = 1_760_000_000.0
LIMITS = LifetimeLimits(default=7_776_000, maximum=31_622_400, oidc_maximum=86_400)


def principal(via: str, expires_in: float | None = None) -> Principal:
    return Principal(
        user_id="usr-1",
        username="u",
        email="",
        name="",
        roles=(),
        organizations=(),
        tier="standard",
        via=via,  # type: ignore[arg-type]
        permissions=frozenset(),
        key_id="key-0123456789abcdef" if via == "api_key" else None,
        expires_at=iso_at(NOW + expires_in) if expires_in is not None else None,
    )


@pytest.mark.parametrize(
    ("maker", "requested", "seconds", "shortened"),
    [
        pytest.param(principal("jwt"), None, 7_776_000, False, id="session-default"),
        pytest.param(principal("jwt"), 31_622_400, 31_622_400, False, id="session-maximum"),
        pytest.param(principal("api_key", 3600), None, 3600, True, id="key-default-shortened"),
        pytest.param(principal("api_key", 3600), 3600, 3600, False, id="key-as-long-as-parent"),
        pytest.param(principal("api_key", 10**9), None, 7_776_000, False, id="long-parent"),
        pytest.param(principal("oidc", 60), None, 86_400, True, id="oidc-default-shortened"),
        pytest.param(principal("oidc", 60), 86_400, 86_400, False, id="oidc-maximum"),
    ],
)
def test_a_credential_lives_at_most_as_long_as_its_maker_allows(
    maker: Principal, requested: int | None, seconds: int, shortened: bool
) -> None:
    lifetime = credential_lifetime(maker, requested, LIMITS, now=NOW)
    assert lifetime.seconds == seconds and lifetime.expires_at == NOW + seconds
    assert (lifetime.shortened_by is not None) is shortened


@pytest.mark.parametrize(
    ("maker", "requested", "maximum", "reason"),
    [
        pytest.param(principal("jwt"), 31_622_401, 31_622_400, "CLOUD_API_KEY_MAX_TTL", id="jwt"),
        pytest.param(principal("api_key", 60), 366 * 86_400, 60, "API key making it", id="key"),
        pytest.param(principal("oidc", 60), 366 * 86_400, 86_400, "CLOUD_OIDC_API_KEY", id="oidc"),
    ],
)
def test_asking_for_longer_than_the_cap_is_refused_naming_it(
    maker: Principal, requested: int, maximum: int, reason: str
) -> None:
    with pytest.raises(LifetimeTooLongError) as refused:
        credential_lifetime(maker, requested, LIMITS, now=NOW)
    assert refused.value.maximum == maximum and reason in str(refused.value)
