"""Watching pools: the journal's events, replayed then live, for many subscribers.

One `WatchHub` per worker process. For each pool somebody in this worker
watches, one follower (a greenlet under gevent) reads the store's journal with
`Store.wait_for_events` and fans each event out to the worker's subscribers of
that pool, so a thousand idle subscribers cost what one costs. Each subscriber
has a bounded buffer: one that does not keep up is dropped with
`SLOW_CONSUMER`, never buffered without bound.

- `codes.py`      the limits, the codes, `WatchRefused`, `StreamEnded`, `EventStream`
- `hub.py`        `WatchHub`: places, limits, followers, shutting down
- `follower.py`   one pool's follower: `wait_for_events` in a loop, fanning out
- `stream.py`     one subscriber: its replay, its buffer, no gap and no repeat
- `positions.py`  where a pool's journal ends

The GraphQL side (`app.api.subscriptions`) validates, costs and authorises the
subscription document and turns each event into a result; the transports
(`app.api.sse`, `app.api.websocket`) carry the results.
"""

from __future__ import annotations

from .codes import (
    CLOSED,
    EVENTS_TRIMMED,
    SHUTTING_DOWN,
    SLOW_CONSUMER,
    STORE_UNAVAILABLE,
    TOO_MANY_SUBSCRIPTIONS,
    EventStream,
    StreamEnded,
    WatchLimits,
    WatchRefused,
)
from .hub import WatchHub, shut_down_all

__all__ = [
    "CLOSED",
    "EVENTS_TRIMMED",
    "SHUTTING_DOWN",
    "SLOW_CONSUMER",
    "STORE_UNAVAILABLE",
    "TOO_MANY_SUBSCRIPTIONS",
    "EventStream",
    "StreamEnded",
    "WatchHub",
    "WatchLimits",
    "WatchRefused",
    "shut_down_all",
]
