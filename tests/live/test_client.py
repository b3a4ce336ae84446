"""app.client against a real server: every method, its refusals, and `hold`/`lease`."""

from __future__ import annotations

import itertools
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from app.client import Client, HeldLease, Lease, ObjmgrError, Pool, lease

from .support import LiveServer, free_port, poll_until

pytestmark = pytest.mark.live

_names = itertools.count()


@pytest.fixture
def client(server: LiveServer) -> Client:
    return Client(server.base_url, token=None, timeout=10)


@pytest.fixture
def pool(client: Client) -> str:
    """A pool of 3 objects of this test's own."""
    name = f"client-{next(_names)}"
    client.create_pool(name, 3)
    return name


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ObjmgrError) as caught:
        call(*args, **kwargs)
    assert caught.value.message
    return caught.value.code


def test_acquire_lease_renew_free(client: Client, pool: str) -> None:
    got = client.acquire(pool, owner="ci-7", label="job 42", ttl=60, request_id="r-1")
    assert isinstance(got, Lease)
    assert (got.pool, got.obj, got.owner, got.label) == (pool, 1, "ci-7", "job 42")
    assert isinstance(got.token, int) and isinstance(got.acquired_at, datetime)
    assert got.expires_at is not None and got.acquired_at.tzinfo is not None
    assert client.acquire(pool, owner="ci-7", request_id="r-1") == got, "a retry, not a second"

    assert client.lease(got.obj, pool) == got
    renewed = client.renew(got.obj, got.token, pool, ttl=120)
    assert renewed.token == got.token and renewed.expires_at > got.expires_at  # type: ignore[operator]

    assert _code(client.free, got.obj, pool, token=got.token + 1) == "STALE_TOKEN"
    assert _code(client.renew, got.obj, got.token + 1, pool) == "STALE_TOKEN"
    assert client.free(got.obj, pool, token=got.token) == got.obj
    assert client.lease(got.obj, pool) is None
    assert _code(client.free, got.obj, pool) == "NOT_ALLOCATED"
    assert _code(client.renew, got.obj, got.token, pool) == "NOT_ALLOCATED"
    assert _code(client.free, 4, pool) == "OUT_OF_RANGE"
    assert _code(client.lease, 4, pool) == "OUT_OF_RANGE"
    assert _code(client.acquire, pool, ttl=-1) == "BAD_USER_INPUT"


def test_exhausted_pool_and_waiting(client: Client, pool: str) -> None:
    held = [client.acquire(pool) for _ in range(3)]
    assert [h.obj for h in held] == [1, 2, 3]
    assert _code(client.acquire, pool) == "POOL_EXHAUSTED"
    started = time.monotonic()
    assert _code(client.acquire, pool, wait=0.3) == "ACQUIRE_TIMEOUT"
    assert time.monotonic() - started >= 0.3
    # A waiter gets the object freed while it waits.
    threading.Timer(0.3, client.free, args=(2, pool)).start()
    assert client.acquire(pool, wait=5).obj == 2


def test_pools(client: Client) -> None:
    name = f"client-{next(_names)}"
    created = client.create_pool(name, 5)
    assert created == Pool(name=name, size=5, available=5, in_use=0, waiting=0)
    assert _code(client.create_pool, name, 5) == "POOL_EXISTS"
    assert _code(client.create_pool, f"{name}-x", 0) == "BAD_USER_INPUT"
    assert client.pool(name) == created
    assert {p.name for p in client.pools()} >= {"default", name}
    got = client.acquire(name)
    assert [found.obj for found in client.leases(name)] == [got.obj]
    assert client.resize_pool(name, 2).size == 2
    assert _code(client.delete_pool, name) == "POOL_IN_USE"
    assert client.delete_pool(name, force=True).name == name
    assert client.pool(name) is None
    assert _code(client.lease, 1, name) == "POOL_NOT_FOUND"
    assert _code(client.leases, name) == "POOL_NOT_FOUND"
    assert _code(client.resize_pool, name, 3) == "POOL_NOT_FOUND"
    assert client.version() == "1.0.0"


def test_unreachable_server_is_a_transport_error() -> None:
    unreachable = Client(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ObjmgrError) as caught:
        unreachable.pools()
    assert caught.value.code == "UNREACHABLE"
    assert caught.value.transport and caught.value.retryable


def test_auth(live_server: LiveServer) -> None:
    url = live_server.start(
        {"OBJMGR_TOKENS": "alice:alice-secret,bob:bob-secret", "OBJMGR_ADMINS": "alice"}
    )
    with pytest.raises(ObjmgrError) as caught:
        Client(url, token=None).pools()
    assert (caught.value.code, caught.value.status) == ("UNAUTHENTICATED", 401)
    assert not caught.value.retryable
    assert _code(Client(url, token="wrong").pools) == "UNAUTHENTICATED"
    alice, bob = Client(url, token="alice-secret"), Client(url, token="bob-secret")
    assert _code(bob.create_pool, "bobs", 3) == "FORBIDDEN"
    got = alice.acquire(owner="ignored")
    assert got.owner == "alice", "with auth on the token names the owner"
    assert _code(bob.free, got.obj) == "NOT_OWNER"
    assert alice.free(got.obj) == got.obj


def test_env_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBJMGR_URL", "http://example.invalid:9/")
    monkeypatch.setenv("OBJMGR_TOKEN", "from-env")
    from_env = Client()
    assert (from_env.url, from_env.token) == ("http://example.invalid:9", "from-env")
    assert Client("http://127.0.0.1:1", token="given").token == "given"
    with pytest.raises(ValueError, match="not an http"):
        Client("localhost:5000")


# hold / lease ---------------------------------------------------------------
def test_hold_renews_in_the_background_and_frees_on_exit(client: Client, pool: str) -> None:
    with client.hold(pool, ttl=1.0, label="long job") as held:
        assert isinstance(held, HeldLease)
        first = held.lease
        deadline = time.monotonic() + 2.5
        while time.monotonic() < deadline:  # longer than two TTLs: renewals keep it
            time.sleep(0.1)
        on_server = client.lease(held.obj, pool)
        assert on_server is not None, "the lease expired: it was not renewed"
        assert on_server.token == first.token
        assert first.expires_at is not None and on_server.expires_at is not None
        assert on_server.expires_at > first.expires_at
        assert held.renewals >= 3 and not held.lost and held.error is None
        held.check()
    assert client.lease(first.obj, pool) is None, "freed on exit"


def test_hold_on_an_exhausted_pool_with_wait_times_out(client: Client, pool: str) -> None:
    for _ in range(3):
        client.acquire(pool)
    started = time.monotonic()
    with pytest.raises(ObjmgrError) as caught, client.hold(pool, wait=0.5):
        pytest.fail("the body ran without an object")
    assert caught.value.code == "ACQUIRE_TIMEOUT"
    assert 0.5 <= time.monotonic() - started < 10


def test_hold_frees_when_the_body_raises(client: Client, pool: str) -> None:
    with pytest.raises(ValueError, match="job failed"), client.hold(pool, ttl=30) as held:
        obj = held.obj
        raise ValueError("job failed")
    assert client.lease(obj, pool) is None


def test_hold_tells_when_the_lease_was_lost(client: Client, pool: str) -> None:
    with client.hold(pool, ttl=5.0, renew_every=0.1) as held:
        # Someone (an admin, or anyone with auth off) takes the object away.
        client.free(held.obj, pool)
        assert poll_until(lambda: held.lost, 5), "the refused renewal was not noticed"
        assert held.error is not None and held.error.code == "NOT_ALLOCATED"
        with pytest.raises(ObjmgrError) as caught:
            held.check()
        assert caught.value.code == "LEASE_LOST"
    # Leaving quietly: there was nothing left to free.


def test_hold_asks_again_when_the_acquire_answer_is_lost(
    client: Client, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_acquire = client.acquire
    calls: list[dict[str, Any]] = []

    def answer_lost_once(*args: Any, **kwargs: Any) -> Lease:
        calls.append(kwargs)
        granted = real_acquire(*args, **kwargs)
        if len(calls) == 1:
            raise ObjmgrError("UNREACHABLE", "connection reset after the request was sent")
        return granted

    monkeypatch.setattr(client, "acquire", answer_lost_once)
    with client.hold(pool, ttl=30) as held:
        assert len(calls) == 2 and calls[0]["request_id"] == calls[1]["request_id"]
        assert calls[0]["request_id"]
        stats = client.pool(pool)
        assert stats is not None and stats.in_use == 1, "the lost answer leaked an object"
        assert held.obj == 1
    stats = client.pool(pool)
    assert stats is not None and stats.in_use == 0


def test_module_level_lease_uses_the_environment(
    server: LiveServer, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBJMGR_URL", server.base_url)
    monkeypatch.delenv("OBJMGR_TOKEN", raising=False)
    with lease(pool, ttl=10, owner="script") as held:
        assert Client().lease(held.obj, pool) == held.lease
        assert held.lease.owner == "script"
    assert Client().lease(held.obj, pool) is None
