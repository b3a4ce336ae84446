"""A Python client for objmgr, on the standard library alone.

    from app.client import Client, ObjmgrError, lease

    client = Client("http://127.0.0.1:5000", token="s3cret")
    got = client.acquire("ports", owner="ci-7", ttl=60)
    client.free(got.obj, "ports", token=got.token)

    with lease("ports", ttl=30, wait=10) as held:   # acquires, renews, frees
        run_job(held.obj, fencing_token=held.token)
        held.check()                                # raises if the lease was lost

Every refusal raises `ObjmgrError` with `.code`: one of the contract's
ErrorCode values, `UNAUTHENTICATED`, a GraphQL code (`GRAPHQL_PARSE_FAILED`,
`GRAPHQL_VALIDATION_FAILED`), a transport code (`UNREACHABLE`, `BAD_RESPONSE`),
or `LEASE_LOST` from `HeldLease.check`. It imports neither Flask nor graphene,
so it can be copied into, or installed beside, any program.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

try:
    from .version import __version__
except ImportError:  # copied out of the package, as a single file
    __version__ = "standalone"

log = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:5000"
DEFAULT_TIMEOUT = 10.0
DEFAULT_LEASE_TTL = 30.0

# Codes made by the client itself, never by the server.
UNREACHABLE = "UNREACHABLE"
BAD_RESPONSE = "BAD_RESPONSE"
LEASE_LOST = "LEASE_LOST"
TRANSPORT_CODES = frozenset({UNREACHABLE, BAD_RESPONSE})
# A renewal or free refused with one of these means the lease is no longer ours.
GONE_CODES = frozenset({"NOT_ALLOCATED", "STALE_TOKEN", "NOT_OWNER", "POOL_NOT_FOUND"})
# Answers after which asking again is safe and may succeed: nothing changed
# (STORE_UNAVAILABLE), or the change may have been made and a retry with the
# same request id tells (OUTCOME_UNKNOWN).
RETRY_CODES = frozenset({"STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"})

LEASE_FIELDS = "pool obj owner label token acquiredAt expiresAt"
POOL_FIELDS = "name size available inUse waiting"


class ObjmgrError(Exception):
    """A request objmgr refused, or one that never got an answer."""

    def __init__(self, code: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    @property
    def transport(self) -> bool:
        """No answer from objmgr itself: the request may or may not have been carried out."""
        return self.code in TRANSPORT_CODES or (self.status is not None and self.status >= 500)

    @property
    def retryable(self) -> bool:
        """Trying again later may succeed (and is safe for acquires with a request id)."""
        return self.transport or self.code in RETRY_CODES


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


@dataclass(frozen=True)
class Lease:
    pool: str
    obj: int
    token: int
    owner: str | None
    label: str | None
    acquired_at: datetime
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Lease:
        acquired_at = _time(data["acquiredAt"])
        assert acquired_at is not None
        return cls(
            pool=data["pool"],
            obj=data["obj"],
            token=data["token"],
            owner=data.get("owner"),
            label=data.get("label"),
            acquired_at=acquired_at,
            expires_at=_time(data.get("expiresAt")),
        )

    def to_json(self) -> dict[str, Any]:
        """The lease as the API spells it."""
        return {
            "pool": self.pool,
            "obj": self.obj,
            "owner": self.owner,
            "label": self.label,
            "token": self.token,
            "acquiredAt": self.acquired_at.isoformat(),
            "expiresAt": None if self.expires_at is None else self.expires_at.isoformat(),
        }


@dataclass(frozen=True)
class Pool:
    name: str
    size: int
    available: int
    in_use: int
    waiting: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pool:
        return cls(
            name=data["name"],
            size=data["size"],
            available=data["available"],
            in_use=data["inUse"],
            waiting=data["waiting"],
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "size": self.size,
            "available": self.available,
            "inUse": self.in_use,
            "waiting": self.waiting,
        }


class _AcquireArguments(TypedDict):
    # `hold` sends one acquire twice: typed, so both calls are checked against it.
    pool: str
    owner: str | None
    label: str | None
    ttl: float | None
    wait: float | None
    request_id: str


class Client:
    """objmgr's GraphQL API as Python calls; safe to share between threads.

    `url` and `token` (the bearer token) default to $OBJMGR_URL and
    $OBJMGR_TOKEN, as for the `objmgr` command.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.url = (url or os.environ.get("OBJMGR_URL") or DEFAULT_URL).rstrip("/")
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"{self.url!r} is not an http:// or https:// URL")
        self.token = token if token is not None else (os.environ.get("OBJMGR_TOKEN") or None)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # transport ----------------------------------------------------------
    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """The `data` of one GraphQL operation; any `errors` raise `ObjmgrError`."""
        body = json.dumps({"query": query, "variables": dict(variables or {})}).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"objmgr-client/{__version__}",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise ObjmgrError(UNREACHABLE, f"{self.url}: {reason}") from error
        return _data(status, raw)

    # leases -------------------------------------------------------------
    def acquire(
        self,
        pool: str = "default",
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = None,
        wait: float | None = None,
        request_id: str | None = None,
    ) -> Lease:
        """Take a free object of `pool`, waiting up to `wait` seconds for one."""
        query = f"""
            mutation Acquire($pool: String!, $owner: String, $label: String, $ttl: Float,
                             $wait: Float, $requestId: String) {{
              acquireObject(pool: $pool, owner: $owner, label: $label, ttl: $ttl, wait: $wait,
                            requestId: $requestId) {{
                success code message lease {{ {LEASE_FIELDS} }}
              }}
            }}"""
        variables = {
            "pool": pool,
            "owner": owner,
            "label": label,
            "ttl": ttl,
            "wait": wait,
            "requestId": request_id,
        }
        # The server holds the request open while it waits.
        timeout = self.timeout + (wait or 0.0)
        result = _payload(self.execute(query, variables, timeout), "acquireObject")
        return Lease.from_json(result["lease"])

    def free(self, obj: int, pool: str = "default", token: int | None = None) -> int:
        """Give `obj` back; with `token`, only if that is still the lease's token."""
        query = """
            mutation Free($obj: Int!, $pool: String!, $token: BigInt) {
              freeObject(obj: $obj, pool: $pool, token: $token) { success code message obj }
            }"""
        data = self.execute(query, {"obj": obj, "pool": pool, "token": token})
        return int(_payload(data, "freeObject")["obj"])

    def renew(
        self,
        obj: int,
        token: int,
        pool: str = "default",
        ttl: float | None = None,
        timeout: float | None = None,
    ) -> Lease:
        """Push the lease's expiry to now + `ttl` (by default its last ttl); same token."""
        query = f"""
            mutation Renew($obj: Int!, $token: BigInt!, $pool: String!, $ttl: Float) {{
              renewLease(obj: $obj, token: $token, pool: $pool, ttl: $ttl) {{
                success code message lease {{ {LEASE_FIELDS} }}
              }}
            }}"""
        variables = {"obj": obj, "token": token, "pool": pool, "ttl": ttl}
        result = _payload(self.execute(query, variables, timeout), "renewLease")
        return Lease.from_json(result["lease"])

    def lease(self, obj: int, pool: str = "default") -> Lease | None:
        """The lease on `obj`, None when it is free."""
        query = f"""
            query Lease($obj: Int!, $pool: String!) {{
              lease(obj: $obj, pool: $pool) {{ {LEASE_FIELDS} }}
            }}"""
        found = self.execute(query, {"obj": obj, "pool": pool})["lease"]
        return None if found is None else Lease.from_json(found)

    def leases(self, pool: str = "default", first: int = 100, after: int = 0) -> list[Lease]:
        """Held leases of `pool` in obj order, those with obj > `after`, at most `first`."""
        query = f"""
            query Leases($pool: String!, $first: Int, $after: Int) {{
              pool(name: $pool) {{ leases(first: $first, after: $after) {{ {LEASE_FIELDS} }} }}
            }}"""
        found = self.execute(query, {"pool": pool, "first": first, "after": after})["pool"]
        if found is None:
            raise ObjmgrError("POOL_NOT_FOUND", f"there is no pool named {pool!r}")
        return [Lease.from_json(item) for item in found["leases"]]

    # pools --------------------------------------------------------------
    def pool(self, name: str = "default") -> Pool | None:
        """The pool's counts, None when there is no such pool."""
        query = f"query Pool($name: String!) {{ pool(name: $name) {{ {POOL_FIELDS} }} }}"
        found = self.execute(query, {"name": name})["pool"]
        return None if found is None else Pool.from_json(found)

    def pools(self) -> list[Pool]:
        data = self.execute(f"query Pools {{ pools {{ {POOL_FIELDS} }} }}")
        return [Pool.from_json(item) for item in data["pools"]]

    def create_pool(self, name: str, size: int) -> Pool:
        return self._pool_change("createPool", "$name: String!, $size: Int!", name=name, size=size)

    def resize_pool(self, name: str, size: int) -> Pool:
        return self._pool_change("resizePool", "$name: String!, $size: Int!", name=name, size=size)

    def delete_pool(self, name: str, force: bool = False) -> Pool:
        """Delete the pool; with leases in use only when `force`. Returns its last counts."""
        return self._pool_change(
            "deletePool", "$name: String!, $force: Boolean", name=name, force=force
        )

    def _pool_change(self, field: str, signature: str, **variables: Any) -> Pool:
        arguments = ", ".join(f"{name}: ${name}" for name in variables)
        query = f"""
            mutation Change({signature}) {{
              {field}({arguments}) {{ success code message pool {{ {POOL_FIELDS} }} }}
            }}"""
        return Pool.from_json(_payload(self.execute(query, variables), field)["pool"])

    def version(self) -> str:
        """The server's version."""
        return str(self.execute("query Version { version }")["version"])

    # holding ------------------------------------------------------------
    @contextlib.contextmanager
    def hold(
        self,
        pool: str = "default",
        owner: str | None = None,
        label: str | None = None,
        ttl: float | None = DEFAULT_LEASE_TTL,
        wait: float | None = None,
        request_id: str | None = None,
        renew_every: float | None = None,
    ) -> Iterator[HeldLease]:
        """Acquire an object, renew its lease in the background, free it on exit.

        The acquire carries a request id (a new uuid unless given) and is sent
        a second time if the first answer is lost, so a dropped response
        leaks nothing. With a `ttl` a daemon thread renews every `renew_every`
        seconds (ttl/3 by default); should a renewal be refused, or none
        succeed before the lease would expire, `held.lost` turns true and
        `held.check()` raises: the fencing token is then no longer yours.
        """
        request_id = request_id or f"objmgr-client-{uuid.uuid4().hex}"
        arguments: _AcquireArguments = {
            "pool": pool,
            "owner": owner,
            "label": label,
            "ttl": ttl,
            "wait": wait,
            "request_id": request_id,
        }
        started = time.monotonic()
        try:
            granted = self.acquire(**arguments)
        except ObjmgrError as error:
            if not error.retryable:
                raise
            log.info("acquire got no answer (%s); asking again with the same request id", error)
            started = time.monotonic()
            granted = self.acquire(**arguments)
        held = HeldLease(self, granted, ttl, renew_every, started)
        held.start()
        body_failed = True
        try:
            yield held
            body_failed = False
        finally:
            held.stop()
            try:
                held.release()
            except ObjmgrError as error:
                if not body_failed:
                    raise
                log.warning("could not free %s after an error: %s", held, error)


class HeldLease:
    """A lease that `Client.hold` keeps alive; read `lease`, `obj`, `token`, `lost`."""

    def __init__(
        self,
        client: Client,
        lease: Lease,
        ttl: float | None,
        renew_every: float | None,
        granted_at: float,
    ) -> None:
        self._client = client
        self._lease = lease
        self._ttl = ttl
        self._interval = renew_every if renew_every is not None else (ttl or 0.0) / 3
        # Measured from before the request left, so the client's idea of the
        # expiry is never later than the server's.
        self._deadline = None if ttl is None else granted_at + ttl
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost = False
        self.error: ObjmgrError | None = None
        self.renewals = 0

    def __repr__(self) -> str:
        return f"<HeldLease object {self.obj} of pool {self.pool!r} token {self.token}>"

    @property
    def lease(self) -> Lease:
        with self._lock:
            return self._lease

    @property
    def obj(self) -> int:
        return self._lease.obj

    @property
    def pool(self) -> str:
        return self._lease.pool

    @property
    def token(self) -> int:
        return self._lease.token

    @property
    def lost(self) -> bool:
        """True once the lease cannot be counted on: a renewal refused, or expiry passed."""
        with self._lock:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                # Once past the expiry, a late renewal cannot make holding safe again:
                # someone else may have had the object in between.
                self._lost = True
            return self._lost

    def check(self) -> None:
        """Raise `ObjmgrError` if the lease was lost (call before acting on the object)."""
        if self.lost:
            reason = f" ({self.error})" if self.error is not None else ""
            raise ObjmgrError(
                LEASE_LOST, f"the lease on object {self.obj} of pool {self.pool!r} was lost{reason}"
            )

    def start(self) -> None:
        if self._ttl is None or self._interval <= 0:
            return
        self._thread = threading.Thread(
            target=self._renew_until_stopped,
            name=f"objmgr-renew-{self.pool}-{self.obj}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._client.timeout + 1.0)

    def release(self) -> None:
        """Free the object with the lease's token; quiet if it was already gone."""
        lease = self.lease
        for attempt in (1, 2):
            try:
                self._client.free(lease.obj, lease.pool, token=lease.token)
                return
            except ObjmgrError as error:
                if error.code in GONE_CODES:
                    with self._lock:
                        self._lost = True
                    return
                if not error.retryable or attempt == 2:
                    raise

    def _renew_until_stopped(self) -> None:
        # A renewal slower than the interval is as good as lost: time it out then.
        timeout = max(self._interval, 0.5)
        while not self._stopping.wait(self._interval):
            if self.lost:
                return
            started = time.monotonic()
            try:
                renewed = self._client.renew(
                    self.obj, self.token, self.pool, self._ttl, timeout=timeout
                )
            except ObjmgrError as error:
                with self._lock:
                    self.error = error
                    if not error.retryable:
                        self._lost = True
                if not error.retryable:
                    log.warning("lease on %s lost: %s", self, error)
                    return
                log.info("renewing %s failed, trying again: %s", self, error)
                continue
            with self._lock:
                self._lease = renewed
                self._deadline = started + (self._ttl or 0.0)
                self.renewals += 1


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
) -> contextlib.AbstractContextManager[HeldLease]:
    """`Client.hold` on `client`, or on a client for $OBJMGR_URL and $OBJMGR_TOKEN."""
    return (client or Client()).hold(
        pool,
        owner=owner,
        label=label,
        ttl=ttl,
        wait=wait,
        request_id=request_id,
        renew_every=renew_every,
    )


def _data(status: int, raw: bytes) -> dict[str, Any]:
    """The `data` of an answer, or the `ObjmgrError` its errors or its status say."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = raw[:200].decode("utf-8", "replace").strip()
        raise ObjmgrError(BAD_RESPONSE, f"HTTP {status}, not objmgr's JSON: {snippet!r}", status)
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code") or (
            BAD_RESPONSE if status >= 500 else f"HTTP_{status}"
        )
        raise ObjmgrError(str(code), str(first.get("message", "")), status)
    if status != 200 or not isinstance(body.get("data"), dict):
        raise ObjmgrError(BAD_RESPONSE, f"HTTP {status} without data", status)
    return body["data"]


def _payload(data: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A mutation's payload, or the `ObjmgrError` its code says."""
    result = data[field]
    if not result["success"]:
        raise ObjmgrError(result["code"], result["message"] or result["code"])
    return result


__all__ = [
    "DEFAULT_URL",
    "LEASE_LOST",
    "Client",
    "HeldLease",
    "Lease",
    "ObjmgrError",
    "Pool",
    "lease",
]
