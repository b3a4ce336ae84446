"""Acquires sent until answered: one request id for every attempt, so a retry never leaks."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from .errors import ObjmgrError
from .models import Lease, LeaseSet
from .operations import OPERATIONS
from .transport import payload

log = logging.getLogger(__name__)


class Sender(Protocol):
    """What an acquire is sent through: a `Client`, as far as acquiring needs one."""

    timeout: float
    retry_delay: float

    def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]: ...


def new_request_id() -> str:
    """A request id no other acquire carries."""
    return f"objmgr-client-{uuid.uuid4().hex}"


def send_acquire(
    client: Sender,
    operation: str,
    field: str,
    variables: Mapping[str, Any],
    attempts: int,
) -> dict[str, Any]:
    """The successful payload of an acquire whose `variables` carry its `requestId`.

    Sent again with the same variables, up to `attempts` times in all, while
    the answer is lost (`UNREACHABLE`, a 5xx), `OUTCOME_UNKNOWN` or
    `STORE_UNAVAILABLE`: the server answers a repeat with what it granted the
    first time, never a second grant. The last such error is raised when
    every attempt failed; any other refusal at once.
    """
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    if not variables.get("requestId"):
        raise ValueError("an acquire is sent with its request id")
    # The server holds the request open while it waits.
    timeout = client.timeout + (variables.get("wait") or 0.0)
    for attempt in range(1, attempts + 1):
        try:
            data = client.execute(OPERATIONS[operation], variables, timeout)
            return payload(data, field)
        except ObjmgrError as error:
            if not error.retryable or attempt == attempts:
                raise
            log.info("acquire %s: %s; sending it again", variables["requestId"], error)
        time.sleep(client.retry_delay * 2 ** (attempt - 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


def one_lease(answer: Mapping[str, Any]) -> Lease:
    """The lease of an `acquireObject` payload, `replayed` as the server said."""
    return Lease.from_json(answer["lease"], replayed=bool(answer.get("replayed")))


def lease_set(answer: Mapping[str, Any]) -> LeaseSet:
    """The leases of an `acquireObjects` payload, each and the set `replayed` as the server said."""
    replayed = bool(answer.get("replayed"))
    leases = tuple(Lease.from_json(item, replayed=replayed) for item in answer["leases"])
    return LeaseSet(leases, replayed)
