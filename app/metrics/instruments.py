"""The counters and histograms, and what moves them: committed events, acquires,
requests. Each is one increment or one observation: nothing reads the store."""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

from ..flask_app import UNROUTED
from ..pool.errors import ErrorCode
from ..pool.events import Event, EventKind
from ..request_record import RequestRecord
from .labels import operation_label, refusal_pool

# A grant without a wait observes 0 and lands in the first bucket; waits are
# capped by OBJMGR_MAX_WAIT (30 s by default, at most an hour).
WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
# Most requests take milliseconds; a waiting acquire lasts as long as its wait.
DURATION_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
)

_LEASE_COUNTERS = {
    EventKind.GRANTED: ("objmgr_leases_granted", "Leases granted (GRANTED events)."),
    EventKind.FREED: ("objmgr_leases_freed", "Leases given back (FREED events)."),
    EventKind.EXPIRED: (
        "objmgr_leases_expired",
        "Leases that ran out of time and were reclaimed (EXPIRED events).",
    ),
    EventKind.RENEWED: ("objmgr_leases_renewed", "Leases renewed (RENEWED events)."),
    EventKind.REVOKED: ("objmgr_leases_revoked", "Leases ended by an admin (REVOKED events)."),
}


class Instruments:
    """One app's counters and histograms, registered in `registry`.

    Under gunicorn their values also go to this worker's files of the
    multiprocess directory, which is what a scrape reads there.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lease_counters = {
            kind: Counter(name, description, ["pool"], registry=registry)
            for kind, (name, description) in _LEASE_COUNTERS.items()
        }
        self.acquire_refused = Counter(
            "objmgr_acquire_refused",
            "Acquires answered without a lease, by code; pool is '_unknown' unless the "
            "code shows the pool exists.",
            ["pool", "code"],
            registry=registry,
        )
        self.acquire_wait = Histogram(
            "objmgr_acquire_wait_seconds",
            "Seconds an acquire waited in its pool's queue before a lease or "
            "ACQUIRE_TIMEOUT; 0 for a grant that did not wait.",
            ["pool"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.request_duration = Histogram(
            "objmgr_request_duration_seconds",
            "Seconds from a request's start to its response, by operation.",
            ["operation"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        # Children by label, so an event or a request costs a dict lookup and an
        # increment, not `labels()`'s lock; bounded as the labels are (labels.py).
        self._lease_children: dict[tuple[EventKind, str], Callable[[], None]] = {}
        self._wait_children: dict[str, Callable[[float], None]] = {}
        self._duration_children: dict[str, Callable[[float], None]] = {}

    # store.listen -------------------------------------------------------
    def count_events(self, events: Sequence[Event]) -> None:
        for event in events:
            key = (event.kind, event.pool)
            child = self._lease_children.get(key)
            if child is None:
                counter = self.lease_counters.get(event.kind)
                if counter is None:  # a pool's own change
                    continue
                child = self._lease_children[key] = increment_of(counter.labels(event.pool))
            child()

    # LeaseService's AcquireObserver -------------------------------------
    def waited(self, pool: str, seconds: float) -> None:
        child = self._wait_children.get(pool)
        if child is None:
            child = self._wait_children[pool] = observation_of(self.acquire_wait.labels(pool))
        child(seconds)

    def refused(self, pool: str, code: ErrorCode) -> None:
        self.acquire_refused.labels(refusal_pool(pool, code), code.value).inc()

    # requests -----------------------------------------------------------
    def request_served(self, record: RequestRecord, seconds: float) -> None:
        """A request answered in `seconds`, under the operation its record names."""
        operation = operation_label(record.operation) if record.operation else UNROUTED
        child = self._duration_children.get(operation)
        if child is None:
            child = self._duration_children[operation] = observation_of(
                self.request_duration.labels(operation)
            )
        child(seconds)


# What `Counter.inc()` and `Histogram.observe()` of a child come to, made once per child:
# one write of its value (under multiprocess mode, to this worker's file), or two for a
# histogram (its sum, and the one bucket the value falls in: the exposition adds up
# the buckets below), without the checks each call repeats for a child made already.
# prometheus_client keeps these values in attributes of its own; a version without
# them gets the children's own methods.


def increment_of(child: Counter) -> Callable[[], None]:
    """`child.inc` for one."""
    increment = getattr(getattr(child, "_value", None), "inc", None)
    if increment is None:
        return child.inc
    return functools.partial(increment, 1)


def observation_of(child: Histogram) -> Callable[[float], None]:
    """`child.observe`."""
    parts: Any = child
    try:
        add_to_sum = parts._sum.inc
        counts = [bucket.inc for bucket in parts._buckets]
        bounds = [float(bound) for bound in parts._upper_bounds]
    except AttributeError:
        return child.observe
    if len(counts) != len(bounds) or bounds[-1] != float("inf"):
        return child.observe

    def observe(seconds: float) -> None:
        add_to_sum(seconds)
        # The first bucket whose bound is at least `seconds`, as Histogram.observe finds it.
        counts[bisect_left(bounds, seconds)](1)

    return observe
