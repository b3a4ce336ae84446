"""Bearer tokens to principals, and their rotation from `OBJMGR_TOKENS_FILE`."""

from __future__ import annotations

import hashlib
import hmac
import weakref

from ..config import Settings
from ..pool.lease import Caller

# Every authenticator of this process, so that a reload (SIGHUP) reaches them all
# without each owner of one having to hand it over.
_live: weakref.WeakSet[Authenticator] = weakref.WeakSet()


class Unauthenticated(Exception):
    pass


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.on = settings.auth_on
        _live.add(self)

    def caller(self, authorization: str | None) -> Caller:
        """The caller an `Authorization` header names; raise `Unauthenticated` if none."""
        if not self.on:
            return Caller.auth_off()
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send Authorization: Bearer <token>")
        # One read of the settings per request: a reload swaps them whole.
        settings = self._settings
        principal = _principal(settings, secret.strip())
        if principal is None:
            raise Unauthenticated("the bearer token is not valid")
        return Caller(principal=principal, is_admin=settings.is_admin(principal))


def reload_tokens() -> int:
    """Read `OBJMGR_TOKENS_FILE` again for every authenticator; the number of principals.

    All or nothing: a file that cannot serve raises `ConfigError` and every
    authenticator keeps the tokens it had. A request in flight finishes as the
    principal it was authenticated as; leases are the store's and stay held.
    Authenticators whose tokens came from OBJMGR_TOKENS have nothing to read.
    """
    reloaded = [
        (authenticator, authenticator._settings.with_tokens_reloaded())
        for authenticator in list(_live)
        if authenticator._settings.tokens_file is not None
    ]
    for authenticator, settings in reloaded:
        authenticator._settings = settings
    return max((len(settings.tokens) for _, settings in reloaded), default=0)


def _principal(settings: Settings, secret: str) -> str | None:
    presented = hashlib.sha256(secret.encode()).digest()
    found = None
    # Compare against every token, in constant time each, so that timing
    # tells nothing about which token or how much of it matched.
    for name, digest in settings.tokens.items():
        if hmac.compare_digest(presented, digest):
            found = name
    return found
