"""objmgr_client against a real server: every method, its refusals, and retried acquires."""

from __future__ import annotations

import itertools
import queue
import threading
import time
from datetime import datetime
from typing import Any

import pytest
from conftest import ProxyFactory
from objmgr_client import Client, Event, Lease, ObjmgrError, Pool

from tests.conditions import wait_until
from tests.live.support import LiveServer, free_port

pytestmark = pytest.mark.live

_names = itertools.count()


def _code(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ObjmgrError) as caught:
        call(*args, **kwargs)
    assert caught.value.message
    return caught.value.code


def test_acquire_get_lease_renew_free(client: Client, pool: str) -> None:
    got = client.acquire(pool, owner="ci-7", label="job 42", ttl=60, request_id="r-1")
    assert isinstance(got, Lease)
    assert (got.pool, got.obj, got.owner, got.label) == (pool, 1, "ci-7", "job 42")
    assert isinstance(got.token, int) and isinstance(got.acquired_at, datetime)
    assert got.expires_at is not None and got.acquired_at.tzinfo is not None
    assert client.acquire(pool, owner="ci-7", request_id="r-1") == got, "a retry, not a second"

    assert client.get_lease(got.obj, pool) == got
    renewed = client.renew(got.obj, got.token, pool, ttl=120)
    assert renewed.token == got.token and renewed.expires_at > got.expires_at  # type: ignore[operator]

    assert _code(client.free, got.obj, pool, token=got.token + 1) == "STALE_TOKEN"
    assert _code(client.renew, got.obj, got.token + 1, pool) == "STALE_TOKEN"
    assert client.free(got.obj, pool, token=got.token) == got.obj
    assert client.get_lease(got.obj, pool) is None
    assert _code(client.free, got.obj, pool) == "NOT_ALLOCATED"
    assert _code(client.renew, got.obj, got.token, pool) == "NOT_ALLOCATED"
    assert _code(client.free, 4, pool) == "OUT_OF_RANGE"
    assert _code(client.get_lease, 4, pool) == "OUT_OF_RANGE"
    assert _code(client.acquire, pool, ttl=-1) == "BAD_USER_INPUT"


def test_acquires_carry_a_request_id_of_their_own(client: Client, pool: str) -> None:
    first, second = client.acquire(pool), client.acquire(pool)
    assert first.obj != second.obj, "two acquires without an id of the caller's: two leases"


def test_exhausted_pool_and_waiting(client: Client, pool: str) -> None:
    held = [client.acquire(pool) for _ in range(3)]
    assert [h.obj for h in held] == [1, 2, 3]
    assert _code(client.acquire, pool) == "POOL_EXHAUSTED"
    started = time.monotonic()
    assert _code(client.acquire, pool, wait=0.3) == "ACQUIRE_TIMEOUT"
    assert time.monotonic() - started >= 0.3
    # A waiter gets the object freed while it waits: free once it is in line.
    freed = threading.Thread(target=_free_once_waiting, args=(client, pool, 2))
    freed.start()
    assert client.acquire(pool, wait=10).obj == 2
    freed.join(10)


def _free_once_waiting(client: Client, pool: str, obj: int) -> None:
    def waiting() -> bool:
        found = client.get_pool(pool)
        return found is not None and found.waiting > 0

    wait_until(waiting, 10, "a waiter")
    client.free(obj, pool)


def test_pools(client: Client) -> None:
    name = f"client-pools-{next(_names)}"
    created = client.create_pool(name, 5)
    assert created == Pool(name=name, size=5, available=5, in_use=0, waiting=0)
    assert _code(client.create_pool, name, 5) == "POOL_EXISTS"
    assert _code(client.create_pool, f"{name}-x", 0) == "BAD_USER_INPUT"
    assert client.get_pool(name) == created
    assert {p.name for p in client.pools()} >= {"default", name}
    assert [p.name for p in client.pools(first=1, after=name)] != [name], "after: a page"
    got = client.acquire(name)
    assert [found.obj for found in client.leases(name)] == [got.obj]
    assert client.leases(name, after=got.obj) == []
    assert client.resize_pool(name, 2).size == 2
    assert _code(client.delete_pool, name) == "POOL_IN_USE"
    assert client.delete_pool(name, force=True).name == name
    assert client.get_pool(name) is None
    assert _code(client.get_lease, 1, name) == "POOL_NOT_FOUND"
    assert _code(client.leases, name) == "POOL_NOT_FOUND"
    assert _code(client.resize_pool, name, 3) == "POOL_NOT_FOUND"
    assert client.version() == "1.0.0"


def test_events_read_the_journal_of_a_pool(client: Client, pool: str) -> None:
    got = client.acquire(pool, owner="ci-7", label="job 42", ttl=60)
    renewed = client.renew(got.obj, got.token, pool, ttl=120)
    client.free(got.obj, pool, token=got.token)

    found = client.events(pool)

    assert all(isinstance(event, Event) for event in found)
    assert [event.kind for event in found] == ["POOL_CREATED", "GRANTED", "RENEWED", "FREED"]
    created, grant, renewal, free = found
    assert created.size == 3 and created.obj is None
    assert (grant.obj, grant.token, grant.owner, grant.label) == (
        got.obj,
        got.token,
        "ci-7",
        "job 42",
    )
    assert grant.at == got.acquired_at and grant.at.tzinfo is not None
    assert renewal.expires_at == renewed.expires_at
    assert free.token == got.token
    seqs = [event.seq for event in found]
    assert seqs == sorted(set(seqs))
    assert client.events(pool, after=seqs[1]) == found[2:]
    assert client.events(pool, after=seqs[0], first=1) == [grant]
    assert client.events(f"{pool}-never-made") == []
    assert _code(client.events, pool, first=1001) == "BAD_USER_INPUT"


def test_follow_gives_what_the_journal_holds_then_each_new_event(client: Client, pool: str) -> None:
    for _ in range(2):
        client.free(client.acquire(pool).obj, pool)
    followed: queue.Queue[Event] = queue.Queue()

    def follow(count: int) -> None:
        # Pages of 2: the journal's five events come in three reads, then a wait for more.
        for event in client.follow(pool, first=2, interval=0.05):
            followed.put(event)
            count -= 1
            if not count:
                return

    threading.Thread(target=follow, args=(6,), daemon=True).start()
    kept = [followed.get(timeout=10) for _ in range(5)]
    assert [event.kind for event in kept] == [
        "POOL_CREATED",
        "GRANTED",
        "FREED",
        "GRANTED",
        "FREED",
    ]

    got = client.acquire(pool, label="after the journal was read")
    new = followed.get(timeout=10)
    assert (new.kind, new.obj, new.label) == ("GRANTED", got.obj, "after the journal was read")
    assert new.seq > kept[-1].seq


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


def test_a_lost_reply_to_an_acquire_leaks_nothing(
    server: LiveServer, client: Client, pool: str, lossy_proxy: ProxyFactory
) -> None:
    # The first acquire reaches the server and is granted; its reply never comes back.
    proxy = lossy_proxy(server.port, 1)
    through = Client(proxy.url, timeout=10, retry_delay=0.01)
    got = through.acquire(pool, ttl=60)
    bodies = proxy.bodies()
    assert len(bodies) == 2, "sent a second time"
    assert bodies[0]["variables"]["requestId"] == bodies[1]["variables"]["requestId"]
    stats = client.get_pool(pool)
    assert stats is not None and stats.in_use == 1, "the lost reply leaked an object"
    assert client.leases(pool) == [got]


def test_a_refusal_is_not_sent_again(
    server: LiveServer, client: Client, pool: str, lossy_proxy: ProxyFactory
) -> None:
    proxy = lossy_proxy(server.port, 0)
    through = Client(proxy.url, retry_delay=0.01)
    assert _code(through.acquire, pool, ttl=0) == "BAD_USER_INPUT"
    assert len(proxy.requests) == 1


def test_an_acquire_the_store_cannot_take_is_sent_again_with_its_request_id(
    live_server: LiveServer, lossy_proxy: ProxyFactory
) -> None:
    # A file where the store's directory should be: every change answers STORE_UNAVAILABLE.
    blocker = live_server.directory / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    live_server.start({"OBJMGR_STORE": f"sqlite:///{blocker}/objmgr.sqlite3"})
    proxy = lossy_proxy(live_server.port, 0)
    through = Client(proxy.url, retry_delay=0.01)
    assert _code(through.acquire, ttl=30, attempts=2) == "STORE_UNAVAILABLE"
    ids = [body["variables"]["requestId"] for body in proxy.bodies()]
    assert len(ids) == 2 and len(set(ids)) == 1 and ids[0]
