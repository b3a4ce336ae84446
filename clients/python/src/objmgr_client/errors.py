"""What a refused or unanswered request raises, `ObjmgrError`; its codes, and which are retried."""

from __future__ import annotations

# Codes made by the client itself, never by the server.
UNREACHABLE = "UNREACHABLE"
"""No connection, or no answer in time: the request may or may not have been carried out."""
BAD_RESPONSE = "BAD_RESPONSE"
"""An answer that is not objmgr's (a proxy's error page, a 5xx without a GraphQL body)."""
LEASE_LOST = "LEASE_LOST"
"""`HeldLease.check`: the lease can no longer be counted on; stop acting on the object."""

TRANSPORT_CODES = frozenset({UNREACHABLE, BAD_RESPONSE})

GONE_CODES = frozenset({"NOT_ALLOCATED", "STALE_TOKEN", "NOT_OWNER", "POOL_NOT_FOUND"})
"""A renewal or a free refused with one of these: the lease is no longer the caller's."""

RETRY_CODES = frozenset({"STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"})
"""Answers after which asking again is safe and may succeed: nothing changed
(STORE_UNAVAILABLE), or the change may have been made and a retry with the same
request id tells (OUTCOME_UNKNOWN)."""

DEFAULT_ACQUIRE_ATTEMPTS = 3
"""How many times an acquire is sent, at most, while its answers are lost or retryable."""


class ObjmgrError(Exception):
    """A request objmgr refused, or one that never got an answer.

    `code` is one of the contract's ErrorCode values, `UNAUTHENTICATED`, a
    GraphQL code (`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`), one of
    the client's own (`UNREACHABLE`, `BAD_RESPONSE`, `LEASE_LOST`), or
    `HTTP_<status>` for an objmgr error body without a code. `status` is the
    HTTP status when there was an answer.
    """

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def __reduce__(self) -> tuple[type[ObjmgrError], tuple[str, str, int | None]]:
        return type(self), (self.code, self.message, self.status)

    @property
    def transport(self) -> bool:
        """No answer from objmgr itself: the request may or may not have been carried out."""
        return self.code in TRANSPORT_CODES or (self.status is not None and self.status >= 500)

    @property
    def retryable(self) -> bool:
        """Trying again later may succeed (and is safe for acquires with a request id)."""
        return self.transport or self.code in RETRY_CODES

    @property
    def gone(self) -> bool:
        """The lease this request was about is no longer the caller's."""
        return self.code in GONE_CODES
