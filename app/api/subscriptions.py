"""`subscription { poolEvents(pool, after) { ... } }`: what both transports share.

A subscription document goes through what every document goes through (the
document cache's parse and validation, the shape and cost limits) and is
authorised like a query; then each event of the pool's `WatchHub` stream is
executed against the document's selection and handed to the transport as one
GraphQL result. The transports (`sse`, `websocket`) only carry what this gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..pool.lease import Caller


@dataclass(frozen=True)
class SubscriptionRequest:
    """What a client sent: the body of an SSE POST or a `subscribe` message's payload."""

    query: object
    variables: object = None
    operation_name: object = None
    extensions: object = None


class SubscriptionRefused(Exception):
    """Nothing opened. `status` is the HTTP status SSE answers with (400, 401,
    403, 413, 429); `errors` are formatted GraphQL errors, each with
    `extensions.code` (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
    QUERY_TOO_COMPLEX, BAD_REQUEST, TOO_MANY_SUBSCRIPTIONS, SHUTTING_DOWN, ...)."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.status = status
        self.errors = errors


class SubscriptionEnded(Exception):
    """The stream ended for good; `errors` (formatted, with a code) say why:
    EVENTS_TRIMMED, SLOW_CONSUMER, SHUTTING_DOWN, STORE_UNAVAILABLE."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "ended")
        self.errors = errors


class Subscription:
    """One open subscription: results in order, one per event."""

    def next(self, timeout: float) -> dict[str, Any] | None:
        """The next result (`{"data": {...}}`, with `errors` beside it when a
        field failed); None when nothing came within `timeout` seconds (the
        transport's cue to send a keepalive). Raises `SubscriptionEnded`."""
        raise NotImplementedError

    def close(self) -> None:
        """Idempotent; frees the subscriber's place in the hub at once."""
        raise NotImplementedError


class SubscriptionGate:
    """Opens subscriptions for one worker; built once by `api.register`."""

    def open(self, request: SubscriptionRequest, caller: Caller) -> Subscription:
        """Check `request` and open it for `caller` (already authenticated by the
        transport); raise `SubscriptionRefused`. A document whose operation is
        a query or mutation is refused here (BAD_REQUEST): those go over POST."""
        raise NotImplementedError
