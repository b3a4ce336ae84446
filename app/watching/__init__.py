"""Watching pools: the journal's events, replayed then live, for many subscribers.

One `WatchHub` per worker process. For each pool somebody in this worker
watches, one follower (a greenlet under gevent) reads the store's journal with
`Store.wait_for_events` and fans each event out to the worker's subscribers of
that pool, so a thousand idle subscribers cost what one costs. Each subscriber
has a bounded buffer: one that does not keep up is dropped with
`SLOW_CONSUMER`, never buffered without bound.

The GraphQL side (`app.api.subscriptions`) validates, costs and authorises the
subscription document and turns each event into a result; the transports
(`app.api.sse`, `app.api.websocket`) carry the results.
"""

from __future__ import annotations

from .hub import (
    EVENTS_TRIMMED,
    SHUTTING_DOWN,
    SLOW_CONSUMER,
    TOO_MANY_SUBSCRIPTIONS,
    EventStream,
    StreamEnded,
    WatchHub,
    WatchLimits,
    WatchRefused,
)

__all__ = [
    "EVENTS_TRIMMED",
    "SHUTTING_DOWN",
    "SLOW_CONSUMER",
    "TOO_MANY_SUBSCRIPTIONS",
    "EventStream",
    "StreamEnded",
    "WatchHub",
    "WatchLimits",
    "WatchRefused",
]
