"""How long a new credential may live: never longer than the one that makes it.

A 60-second API key with `api-keys:manage` could mint a 366-day key, which kept working
after the first was revoked; an OIDC user with a 60-second token could mint a year-long
key. Every path that mints a credential (API keys today; any token endpoint tomorrow)
asks `credential_lifetime` for its expiry, with the caller's principal:

- made with an API key: at most until that key expires (and revoking it revokes what it
  made: `Store.revoke_api_key`);
- made by an OIDC user: at most `CLOUD_OIDC_API_KEY_MAX_TTL` (a day by default): the
  identity provider's own tokens are short-lived by design and the key must outlive the
  sign-in, but not by much. Such a key also works only while the provider has vouched
  for its owner in the last `CLOUD_OIDC_ROLE_RECHECK_SECONDS` (the authenticator's
  check), so a user the provider drops, or whose groups change, loses its keys' rights;
- made in a session of our own (a password sign-in): at most `CLOUD_API_KEY_MAX_TTL`.

A request for longer than the cap is refused, naming the cap and why; a request that
names no lifetime gets the default, shortened to the cap. A purely computational module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.adapters.clock import epoch_of
from controller.service.auth.authentication import Principal
from controller.service.settings import Settings


@dataclass(frozen=True)
class LifetimeLimits:
    default: int  # seconds, when the request names none
    maximum: int  # CLOUD_API_KEY_MAX_TTL
    oidc_maximum: int  # CLOUD_OIDC_API_KEY_MAX_TTL


def limits_of(settings: Settings) -> LifetimeLimits:
    """The caps configured by `CLOUD_API_KEY_DEFAULT_TTL`, `…_MAX_TTL` and
    `CLOUD_OIDC_API_KEY_MAX_TTL`."""
    return LifetimeLimits(
        default=settings.api_key_default_ttl,
        maximum=settings.api_key_max_ttl,
        oidc_maximum=settings.oidc_api_key_max_ttl,
    )


@dataclass(frozen=True)
class Lifetime:
    seconds: int
    expires_at: float  # epoch seconds
    shortened_by: str | None = None  # why it is shorter than the default, if it is


class LifetimeTooLongError(ValueError):
    """The requested lifetime is past the cap; `maximum` is what may be asked."""

    def __init__(self, maximum: int, reason: str) -> None:
        self.maximum = maximum
        self.reason = reason
        super().__init__(f"expiresIn must be at most {maximum} seconds ({reason})")


def lifetime_cap(principal: Principal, limits: LifetimeLimits, *, now: float) -> tuple[float, str]:
    """The latest expiry a credential made by `principal` may have, and why."""
    caps = [(now + limits.maximum, f"CLOUD_API_KEY_MAX_TTL is {limits.maximum} seconds")]
    if principal.via == "oidc":
        caps.append(
            (
                now + limits.oidc_maximum,
                f"keys of identity-provider users live at most {limits.oidc_maximum} seconds "
                "(CLOUD_OIDC_API_KEY_MAX_TTL)",
            )
        )
    if principal.via == "api_key" and principal.expires_at is not None:
        caps.append(
            (
                epoch_of(principal.expires_at),
                f"the API key making it expires at {principal.expires_at}",
            )
        )
    return min(caps)


def credential_lifetime(
    principal: Principal, requested: int | None, limits: LifetimeLimits, *, now: float
) -> Lifetime:
    """The lifetime of a credential `principal` makes, asked for `requested` seconds (None:
    the default); `LifetimeTooLongError` when that is past the cap."""
    cap, reason = lifetime_cap(principal, limits, now=now)
    allowed = max(0, math.floor(cap - now))
    if requested is not None:
        if requested > allowed:
            raise LifetimeTooLongError(allowed, reason)
        return Lifetime(requested, now + requested)
    if limits.default > allowed:
        return Lifetime(allowed, now + allowed, shortened_by=reason)
    return Lifetime(limits.default, now + limits.default)
