"""The Python client of objmgr, on the standard library alone.

    from objmgr_client import Client, ObjmgrError, lease

    client = Client("http://127.0.0.1:5000", token="s3cret")
    got = client.acquire("ports", owner="ci-7", ttl=60)
    client.free(got.obj, "ports", token=got.token)

    with lease("ports", ttl=30, wait=10) as held:   # acquires, renews, frees
        held.check()                                # raises once the lease was lost
        run_job(held.obj, fencing_token=held.token)

Every refusal raises `ObjmgrError` with `.code` (see `objmgr_client.errors`).
"""

from __future__ import annotations

import contextlib

from .client import (
    DEFAULT_ACQUIRE_ATTEMPTS,
    DEFAULT_RETRY_DELAY,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Client,
    new_request_id,
)
from .errors import (
    BAD_RESPONSE,
    GONE_CODES,
    LEASE_LOST,
    RETRY_CODES,
    UNREACHABLE,
    ObjmgrError,
)
from .holding import DEFAULT_LEASE_TTL, HeldLease, Renewer
from .models import Lease, Pool
from .operations import OPERATIONS
from .version import __version__


def lease(
    pool: str = "default",
    *,
    client: Client | None = None,
    owner: str | None = None,
    label: str | None = None,
    ttl: float | None = DEFAULT_LEASE_TTL,
    wait: float | None = None,
    request_id: str | None = None,
    renew_every: float | None = None,
    attempts: int = DEFAULT_ACQUIRE_ATTEMPTS,
) -> contextlib.AbstractContextManager[HeldLease]:
    """Hold an object of `pool` for as long as the `with` block runs.

    On `client`, or on a new client for $OBJMGR_URL and $OBJMGR_TOKEN. The
    acquire carries `request_id` (a new one unless given) and is sent again,
    up to `attempts` times, while its answer is lost or the store is out, so a
    lost reply leaks nothing. With a `ttl`, the client's renewer renews the
    lease every `renew_every` seconds (a third of the TTL by default). When a
    renewal is refused with a code that says the lease is gone, or none is
    answered before the lease's local deadline, `held.lost` turns true and
    `held.check()` raises `ObjmgrError(LEASE_LOST)`. On exit the object is
    freed with its token.
    """
    return (client or Client()).hold(
        pool,
        owner=owner,
        label=label,
        ttl=ttl,
        wait=wait,
        request_id=request_id,
        renew_every=renew_every,
        attempts=attempts,
    )


__all__ = [
    "BAD_RESPONSE",
    "DEFAULT_ACQUIRE_ATTEMPTS",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_RETRY_DELAY",
    "DEFAULT_TIMEOUT",
    "DEFAULT_URL",
    "GONE_CODES",
    "LEASE_LOST",
    "OPERATIONS",
    "RETRY_CODES",
    "UNREACHABLE",
    "Client",
    "HeldLease",
    "Lease",
    "ObjmgrError",
    "Pool",
    "Renewer",
    "__version__",
    "lease",
    "new_request_id",
]
