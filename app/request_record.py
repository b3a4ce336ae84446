"""What the logs and the metrics know of the request being served.

One `RequestRecord` per HTTP request, made where the request enters the app
and reachable from anywhere that request's work runs (the view, a store's
event listener) through a context variable: under gevent each greenlet has a
context of its own, so two requests served at once never see each other's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass(eq=False, slots=True)
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


#: The record of the request this code runs for; None off any request (the reaper).
#: The variable's own methods, read on every request's path, without a call around them.
current_request: Callable[[], RequestRecord | None] = _current.get
#: Make a record the current request's until `leave` with what this returned.
enter: Callable[[RequestRecord], Token[RequestRecord | None]] = _current.set
leave: Callable[[Token[RequestRecord | None]], None] = _current.reset


@contextmanager
def serving(record: RequestRecord) -> Iterator[RequestRecord]:
    """Make `record` the current request's while the block runs."""
    token = enter(record)
    try:
        yield record
    finally:
        leave(token)
