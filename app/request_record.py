"""What the logs and the metrics know of the request being served.

One `RequestRecord` per HTTP request, made where the request enters the app
and reachable from anywhere that request's work runs (the view, a store's
event listener) through a context variable: under gevent each greenlet has a
context of its own, so two requests served at once never see each other's.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(eq=False)
class RequestRecord:
    #: The client's `X-Request-Id` when it sent a usable one, else a new one.
    request_id: str
    method: str
    path: str
    #: What the request asked for: a GraphQL root field such as `acquireObject`
    #: (several joined by "+"), or the endpoint's name; bounded, fit for a label.
    operation: str | None = None
    #: The principal of its bearer token; None with auth off or before auth.
    principal: str | None = None


_current: ContextVar[RequestRecord | None] = ContextVar("objmgr_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request this code runs for; None off any request (the reaper)."""
    return _current.get()


def enter(record: RequestRecord) -> Token[RequestRecord | None]:
    """Make `record` the current request's until `leave` with what this returned."""
    return _current.set(record)


def leave(token: Token[RequestRecord | None]) -> None:
    _current.reset(token)


@contextmanager
def serving(record: RequestRecord) -> Iterator[RequestRecord]:
    """Make `record` the current request's while the block runs."""
    token = enter(record)
    try:
        yield record
    finally:
        leave(token)
