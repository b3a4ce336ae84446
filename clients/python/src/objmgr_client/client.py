"""`Client`: objmgr's GraphQL API as Python calls, each sending one of `OPERATIONS`."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Unpack

from . import holding
from .acquiring import lease_set, new_request_id, one_lease, send_acquire
from .errors import DEFAULT_ACQUIRE_ATTEMPTS, ObjmgrError
from .models import NO_POLICY, Event, Lease, LeaseSet, Pool, PoolPolicy
from .operations import OPERATIONS
from .transport import Transport, payload
from .watching import DEFAULT_IDLE_TIMEOUT, DEFAULT_WATCH_ATTEMPTS, EventWatch

DEFAULT_URL = "http://127.0.0.1:5000"
DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRY_DELAY = 0.25
"""Seconds before the second attempt of an acquire; each later one waits twice as long."""
DEFAULT_FOLLOW_INTERVAL = 1.0
"""Seconds `Client.follow` waits after a look that found nothing new."""
MAX_FOLLOW_INTERVAL = 60.0


class Client:
    """objmgr's API as Python calls; safe to share between threads.

    `url` and `token` (the bearer token) default to $OBJMGR_URL and
    $OBJMGR_TOKEN, as for the `objmgr` command; `timeout` is how long a request
    may take (an acquire with `wait` gets `wait` seconds more). Leases taken
    with `hold` are renewed by one background thread of this client.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry_delay: float = DEFAULT_RETRY_DELAY,
    ) -> None:
        self.token = token if token is not None else (os.environ.get("OBJMGR_TOKEN") or None)
        self._transport = Transport(url or os.environ.get("OBJMGR_URL") or DEFAULT_URL, self.token)
        self.url = self._transport.url
        self.timeout = timeout
        self.retry_delay = retry_delay
        self.renewer = holding.Renewer(self)

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    def execute(
        self,
        document: str,
        variables: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The `data` of one GraphQL operation; any `errors` raise `ObjmgrError`."""
        return self._transport.post(document, variables, timeout or self.timeout)

    # leases -------------------------------------------------------------
    def acquire(
        self,
        pool: str = "default",
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = None,
        wait: float | None = None,
        request_id: str | None = None,
        attempts: int = DEFAULT_ACQUIRE_ATTEMPTS,
        obj: int | None = None,
    ) -> Lease:
        """Take a free object of `pool` (exactly `obj` when given), waiting up to
        `wait` seconds in line for one.

        With `obj`, someone else holding it is `OBJECT_HELD` (or, with `wait`, a
        wait for that object). The acquire carries `request_id` (a new one
        unless given) and is sent again with it, up to `attempts` times in all,
        while the answer is lost (`UNREACHABLE`, a 5xx), `OUTCOME_UNKNOWN` or
        `STORE_UNAVAILABLE`: the server answers a repeat with the lease it
        granted, never a second one, and the lease answered then has
        `replayed` true. The last such error is raised when every attempt failed.
        """
        variables = {
            "pool": pool,
            "owner": owner,
            "label": label,
            "ttl": ttl,
            "wait": wait,
            "requestId": request_id or new_request_id(),
            "obj": obj,
        }
        return one_lease(send_acquire(self, "Acquire", "acquireObject", variables, attempts))

    def acquire_many(
        self,
        count: int,
        pool: str = "default",
        contiguous: bool = False,
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = None,
        wait: float | None = None,
        request_id: str | None = None,
        attempts: int = DEFAULT_ACQUIRE_ATTEMPTS,
    ) -> LeaseSet:
        """Take `count` objects of `pool` (1..1000) at once, all or none.

        Without `contiguous`, the objects `count` single acquires would take,
        in that order; with it, `count` consecutive objects (the free run that
        starts lowest). Too few free: `POOL_EXHAUSTED`, or with `wait` one
        place in line for all of them. Each lease is a grant of its own, its
        token above the one before. Retried as `acquire` is, with one request
        id for every attempt, so a lost answer never leaks the set.
        """
        variables = {
            "count": count,
            "pool": pool,
            "contiguous": contiguous,
            "owner": owner,
            "label": label,
            "ttl": ttl,
            "wait": wait,
            "requestId": request_id or new_request_id(),
        }
        return lease_set(send_acquire(self, "AcquireMany", "acquireObjects", variables, attempts))

    def free(self, obj: int, pool: str = "default", token: int | None = None) -> int:
        """Give `obj` back; with `token`, only if that is still the lease's token."""
        data = self.execute(OPERATIONS["Free"], {"obj": obj, "pool": pool, "token": token})
        return int(payload(data, "freeObject")["obj"])

    def renew(
        self,
        obj: int,
        token: int,
        pool: str = "default",
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> Lease:
        """Push the lease's expiry to now + `ttl` (by default its last ttl); same token."""
        variables = {"obj": obj, "token": token, "pool": pool, "ttl": ttl}
        data = self.execute(OPERATIONS["Renew"], variables, timeout)
        return Lease.from_json(payload(data, "renewLease")["lease"])

    def get_lease(self, obj: int, pool: str = "default") -> Lease | None:
        """The lease held on `obj`, None when it is free (a read: it takes nothing)."""
        found = self.execute(OPERATIONS["Lease"], {"obj": obj, "pool": pool})["lease"]
        return None if found is None else Lease.from_json(found)

    def leases(
        self,
        pool: str | None = "default",
        first: int = 100,
        after: int = 0,
        owner: str | None = None,
    ) -> list[Lease]:
        """Held leases of `pool` in obj order, those with obj > `after`, at most `first`;
        with `owner`, that owner's only.

        `pool=None` with an `owner`: that owner's leases in every pool, by
        (pool, obj), at most `first` (no `after` then).
        """
        if pool is None:
            if owner is None:
                raise ValueError("leases in every pool are one owner's: give owner=")
            if after:
                raise ValueError("leases in every pool are read from the first: no after=")
            variables: dict[str, Any] = {"owner": owner, "first": first}
            found_all = self.execute(OPERATIONS["OwnerLeases"], variables)["leases"]
            return [Lease.from_json(item) for item in found_all]
        variables = {"name": pool, "first": first, "after": after, "owner": owner}
        found = self.execute(OPERATIONS["Leases"], variables)["pool"]
        if found is None:
            raise ObjmgrError("POOL_NOT_FOUND", f"there is no pool named {pool!r}")
        return [Lease.from_json(item) for item in found["leases"]]

    def revoke(
        self,
        pool: str,
        owner: str | None = None,
        label_prefix: str | None = None,
        objs: Sequence[int] | None = None,
        reason: str | None = None,
    ) -> list[Lease]:
        """End at once the leases of `pool` that match every filter given (none
        given: every lease of the pool); the leases revoked, each journaled as
        REVOKED with `reason`. Admins only (`FORBIDDEN` otherwise).

        Their holders' next renewal or free is refused (`NOT_ALLOCATED` or
        `STALE_TOKEN`), so a held lease notices it is lost.
        """
        variables = {
            "pool": pool,
            "owner": owner,
            "labelPrefix": label_prefix,
            "objs": None if objs is None else list(objs),
            "reason": reason,
        }
        data = self.execute(OPERATIONS["Revoke"], variables)
        return [Lease.from_json(item) for item in payload(data, "revokeLeases")["revoked"]]

    # pools --------------------------------------------------------------
    def get_pool(self, name: str = "default") -> Pool | None:
        """The pool's counts, None when there is no such pool."""
        found = self.execute(OPERATIONS["Pool"], {"name": name})["pool"]
        return None if found is None else Pool.from_json(found)

    def pools(self, first: int = 100, after: str = "") -> list[Pool]:
        """Pools in name order, those named after `after`, at most `first`."""
        data = self.execute(OPERATIONS["Pools"], {"first": first, "after": after})
        return [Pool.from_json(item) for item in data["pools"]]

    def create_pool(self, name: str, size: int, policy: PoolPolicy | None = None) -> Pool:
        """A new pool of the objects 1..`size`, following `policy` (by default no rule)."""
        variables = {
            "name": name,
            "size": size,
            "policy": None if policy is None else policy.to_json(),
        }
        data = self.execute(OPERATIONS["CreatePool"], variables)
        return Pool.from_json(payload(data, "createPool")["pool"])

    def set_policy(
        self,
        name: str,
        policy: PoolPolicy | None = None,
        *,
        default_ttl: float | None = None,
        max_ttl: float | None = None,
        max_per_owner: int | None = None,
        reuse_delay: float | None = None,
        reuse_first: bool = False,
        description: str | None = None,
    ) -> Pool:
        """Replace the pool's whole policy: `policy`, or one of the rules given by name
        (a rule not given is none). The pool, with its new policy. Admins only.

        Leases granted before keep their TTL until renewed; from the change on,
        grants and renewals follow the new rules.
        """
        rules = PoolPolicy(
            default_ttl=default_ttl,
            max_ttl=max_ttl,
            max_per_owner=max_per_owner,
            reuse_delay=reuse_delay,
            reuse_first=reuse_first,
            description=description,
        )
        if policy is not None and rules != NO_POLICY:
            raise ValueError("give the policy as a PoolPolicy or as its rules, not both")
        variables = {"name": name, "policy": (policy or rules).to_json()}
        data = self.execute(OPERATIONS["SetPolicy"], variables)
        return Pool.from_json(payload(data, "setPoolPolicy")["pool"])

    def resize_pool(self, name: str, size: int) -> Pool:
        """Objects 1..`size` from now on; leases above `size` stay valid until freed."""
        data = self.execute(OPERATIONS["ResizePool"], {"name": name, "size": size})
        return Pool.from_json(payload(data, "resizePool")["pool"])

    def delete_pool(self, name: str, force: bool = False) -> Pool:
        """Delete the pool; with leases in use only when `force`. Returns its last counts."""
        data = self.execute(OPERATIONS["DeletePool"], {"name": name, "force": force})
        return Pool.from_json(payload(data, "deletePool")["pool"])

    # the journal ----------------------------------------------------------
    def events(self, pool: str = "default", after: int = 0, first: int = 100) -> list[Event]:
        """The pool's journal: events with seq > `after`, ascending, at most `first`.

        A name that never had a pool has no events (an empty list); a deleted
        pool's stay readable while the journal keeps them.
        """
        variables = {"pool": pool, "after": after, "first": first}
        return [
            Event.from_json(item)
            for item in self.execute(OPERATIONS["Events"], variables)["events"]
        ]

    def follow(
        self,
        pool: str = "default",
        after: int = 0,
        first: int = 100,
        interval: float = DEFAULT_FOLLOW_INTERVAL,
    ) -> Iterator[Event]:
        """Every event of the pool with seq > `after`, then each new one, for ever.

        Reads the journal a page of `first` at a time, at once while pages
        come full, and `interval` seconds (at most a minute) after a page that
        was not. An error of a read is raised, and the generator ends; resume
        with `after` the last `seq` it gave.
        """
        if not 0 < interval <= MAX_FOLLOW_INTERVAL:
            raise ValueError(f"interval must be more than 0 and at most {MAX_FOLLOW_INTERVAL:g}")
        if first < 1:
            raise ValueError(f"first must be at least 1, not {first}")
        while True:
            page = self.events(pool, after, first)
            for event in page:
                after = event.seq
                yield event
            if len(page) < first:
                time.sleep(interval)

    def watch(
        self,
        pool: str = "default",
        after: int | None = None,
        attempts: int = DEFAULT_WATCH_ATTEMPTS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> EventWatch:
        """The pool's events with seq > `after`, then each new one as it is committed.

        `after` None: only events committed from now on. Over one streaming
        connection (GraphQL over Server-Sent Events), not by polling; a
        connection that drops is opened again with `after` the last seq given,
        up to `attempts` times in a row, `retry_delay` doubling between them,
        so that no event is lost or given twice. The stream is open when this
        returns (a refusal raises here); close the watch (or use it in a `with`
        block) to close its connection. See `EventWatch` for what it raises.
        """
        watch = EventWatch(
            self._transport,
            pool,
            after,
            attempts=attempts,
            retry_delay=self.retry_delay,
            idle_timeout=idle_timeout,
            connect_timeout=self.timeout,
        )
        return watch.start()

    def version(self) -> str:
        """The server's version."""
        return str(self.execute(OPERATIONS["Version"])["version"])

    # holding ------------------------------------------------------------
    def hold(
        self, pool: str = "default", **options: Unpack[holding.HoldOptions]
    ) -> contextlib.AbstractContextManager[holding.HeldLease]:
        """Acquire an object, keep its lease renewed while the block runs, free it on exit.

        The options, and what holding promises, are those of
        `objmgr_client.holding.hold`: `owner`, `label`, `ttl` (30 s by default;
        None for none), `wait`, `request_id`, `renew_every`, `attempts`, `obj`.
        """
        return holding.hold(self, pool, **options)
