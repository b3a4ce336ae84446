"""Bearer tokens to principals."""

from __future__ import annotations

import hashlib
import hmac

from ..config import Settings
from ..pool.lease import Caller


class Unauthenticated(Exception):
    pass


class Authenticator:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.on = settings.auth_on

    def caller(self, authorization: str | None) -> Caller:
        """The caller an `Authorization` header names; raise `Unauthenticated` if none."""
        if not self.on:
            return Caller(principal=None, is_admin=True)
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthenticated("send Authorization: Bearer <token>")
        principal = self._principal(secret.strip())
        if principal is None:
            raise Unauthenticated("the bearer token is not valid")
        return Caller(principal=principal, is_admin=self._settings.is_admin(principal))

    def _principal(self, secret: str) -> str | None:
        presented = hashlib.sha256(secret.encode()).digest()
        found = None
        # Compare against every token, in constant time each, so that timing
        # tells nothing about which token or how much of it matched.
        for name, digest in self._settings.tokens.items():
            if hmac.compare_digest(presented, digest):
                found = name
        return found
