"""The Python client of objmgr, on the standard library alone.

    from objmgr_client import Client, ObjmgrError, lease

    client = Client("http://127.0.0.1:5000", token="s3cret")
    got = client.acquire("ports", owner="ci-7", ttl=60)
    client.free(got.obj, "ports", token=got.token)
    run = client.acquire_many(3, "ports", contiguous=True, ttl=60)  # all or none
    client.revoke("ports", owner="ci-7", reason="job cancelled")  # admins
    client.set_policy("ports", max_ttl=3600, max_per_owner=10)
    for event in client.events("ports"):            # the pool's journal
        print(event.seq, event.kind, event.obj)
    with client.watch("ports", after=0) as watch:   # ... and each new event, live
        for event in watch:
            print(event.seq, event.kind, event.obj)

    with lease("ports", ttl=30, wait=10) as held:   # acquires, renews, frees
        held.check()                                # raises once the lease was lost
        run_job(held.obj, fencing_token=held.token)

Every refusal raises `ObjmgrError` with `.code` (see `objmgr_client.errors`).
"""

from __future__ import annotations

import contextlib
from typing import Unpack

from .acquiring import new_request_id
from .client import (
    DEFAULT_FOLLOW_INTERVAL,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Client,
)
from .errors import (
    BAD_RESPONSE,
    DEFAULT_ACQUIRE_ATTEMPTS,
    GONE_CODES,
    LEASE_LOST,
    RETRY_CODES,
    UNREACHABLE,
    ObjmgrError,
)
from .holding import DEFAULT_LEASE_TTL, HeldLease, HoldOptions, Renewer
from .models import NO_POLICY, Event, Lease, LeaseSet, Pool, PoolPolicy
from .operations import OPERATIONS
from .version import __version__
from .watching import DEFAULT_IDLE_TIMEOUT, DEFAULT_WATCH_ATTEMPTS, RESUMABLE_CODES, EventWatch


def lease(
    pool: str = "default", *, client: Client | None = None, **options: Unpack[HoldOptions]
) -> contextlib.AbstractContextManager[HeldLease]:
    """Hold an object of `pool` for as long as the `with` block runs.

    On `client`, or on a new client for $OBJMGR_URL and $OBJMGR_TOKEN. The
    options, and what holding promises, are those of `objmgr_client.holding.hold`:
    `owner`, `label`, `ttl` (30 s by default; None for none), `wait`,
    `request_id`, `renew_every` (a third of the TTL by default), `attempts`
    and `obj` (that object and no other).
    """
    return (client or Client()).hold(pool, **options)


__all__ = [
    "BAD_RESPONSE",
    "DEFAULT_ACQUIRE_ATTEMPTS",
    "DEFAULT_FOLLOW_INTERVAL",
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "DEFAULT_WATCH_ATTEMPTS",
    "GONE_CODES",
    "LEASE_LOST",
    "NO_POLICY",
    "OPERATIONS",
    "RESUMABLE_CODES",
    "RETRY_CODES",
    "UNREACHABLE",
    "Client",
    "Event",
    "EventWatch",
    "HeldLease",
    "HoldOptions",
    "Lease",
    "LeaseSet",
    "ObjmgrError",
    "Pool",
    "PoolPolicy",
    "Renewer",
    "__version__",
    "lease",
    "new_request_id",
]
