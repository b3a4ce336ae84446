"""`lease()` and `Client.hold` against a real server: renewed by one thread, freed, and lost."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest
from conftest import ProxyFactory
from objmgr_client import Client, HeldLease, ObjmgrError, lease

from tests.conditions import poll_until
from tests.live.support import LiveServer

pytestmark = pytest.mark.live


def _renewers() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("objmgr-renewer")]


def test_hold_renews_past_the_ttl_and_frees_on_exit(client: Client, pool: str) -> None:
    with client.hold(pool, ttl=1.0, label="long job") as held:
        assert isinstance(held, HeldLease)
        first = held.lease
        # Four renewals at a third of the TTL: more than one TTL since the grant.
        assert poll_until(lambda: held.renewals >= 4, 10), held.error
        on_server = client.get_lease(held.obj, pool)
        assert on_server is not None, "the lease expired: it was not renewed"
        assert on_server.token == first.token
        assert first.expires_at is not None and on_server.expires_at is not None
        assert on_server.expires_at > first.expires_at
        assert not held.lost and held.error is None
        held.check()
    assert client.get_lease(first.obj, pool) is None, "freed on exit"


def test_one_renewer_thread_for_every_lease_a_client_holds(client: Client, pool: str) -> None:
    assert _renewers() == []
    with ExitStack() as stack:
        held = [stack.enter_context(client.hold(pool, ttl=2.0, renew_every=0.1)) for _ in range(3)]
        assert len(_renewers()) == 1 and client.renewer.thread in _renewers()
        assert client.renewer.holding() == 3
        assert poll_until(lambda: all(h.renewals >= 2 for h in held), 10), "each is renewed"
        stack.pop_all().close()
    assert _renewers() == [], "the thread ends with the last lease"
    with client.hold(pool, ttl=2.0):
        assert len(_renewers()) == 1, "and starts again with the next"
    with client.hold(pool, ttl=None) as untimed:
        assert _renewers() == [] and untimed.deadline is None, "no TTL, nothing to renew"
    assert _renewers() == []


def test_hold_on_an_exhausted_pool_with_wait_times_out(client: Client, pool: str) -> None:
    for _ in range(3):
        client.acquire(pool)
    with pytest.raises(ObjmgrError) as caught, client.hold(pool, wait=0.5):
        pytest.fail("the body ran without an object")
    assert caught.value.code == "ACQUIRE_TIMEOUT"
    assert _renewers() == []


def test_a_lease_waited_for_past_its_ttl_is_confirmed_not_lost(client: Client) -> None:
    client.create_pool("client-one-object", 1)
    # Nobody renews this one: the server takes it back when its TTL runs out.
    first = client.acquire("client-one-object", ttl=1.5)
    sent = time.monotonic()
    with client.hold("client-one-object", ttl=0.5, wait=20) as held:
        assert time.monotonic() - sent > 0.5, "the wait outlasted the TTL of the lease"
        # Counted from the acquire's sending its deadline had passed; the grant came
        # later, and a renewal before the block proved the object ours.
        assert not held.lost and held.renewals >= 1 and held.obj == first.obj
        assert held.token > first.token
        held.check()
    assert client.get_lease(first.obj, "client-one-object") is None


def test_hold_frees_when_the_body_raises(client: Client, pool: str) -> None:
    with pytest.raises(ValueError, match="job failed"), client.hold(pool, ttl=30) as held:
        obj = held.obj
        raise ValueError("job failed")
    assert client.get_lease(obj, pool) is None
    assert _renewers() == []


def test_a_lease_taken_away_is_lost_at_once(client: Client, pool: str) -> None:
    with client.hold(pool, ttl=30.0, renew_every=0.1) as held:
        # Someone (an admin, or anyone with auth off) takes the object away.
        client.free(held.obj, pool)
        assert poll_until(lambda: held.lost, 5), "the refused renewal was not noticed"
        assert held.error is not None and held.error.code == "NOT_ALLOCATED"
        assert held.time_left is not None and held.time_left > 0, "long before its deadline"
        with pytest.raises(ObjmgrError) as caught:
            held.check()
        assert caught.value.code == "LEASE_LOST"
    # Leaving quietly: there was nothing left to free.


def test_a_lease_whose_server_went_away_is_lost_at_its_deadline(
    live_server: LiveServer,
) -> None:
    client = Client(live_server.start(), timeout=2)
    with client.hold(ttl=1.5, renew_every=0.2) as held:
        assert poll_until(lambda: held.renewals >= 1, 10)
        live_server.stop()
        assert poll_until(lambda: held.error is not None, 10)
        assert held.error is not None and held.error.code == "UNREACHABLE"
        lost, left = held.lost, held.time_left
        assert left is not None and (not lost or left <= 0), "not lost before the deadline"
        assert poll_until(lambda: held.lost, 10), "still counted on past its deadline"
        with pytest.raises(ObjmgrError) as caught:
            held.check()
        assert caught.value.code == "LEASE_LOST"
    # The free on exit cannot be sent either; the lease was lost already, so it is quiet.
    assert poll_until(lambda: _renewers() == [], 5)


def test_hold_asks_again_when_the_acquire_answer_is_lost(
    server: LiveServer, client: Client, pool: str, lossy_proxy: ProxyFactory
) -> None:
    proxy = lossy_proxy(server.port, 1)
    through = Client(proxy.url, retry_delay=0.01)
    with through.hold(pool, ttl=30, request_id="job-7") as held:
        first, second = proxy.bodies()[:2]
        assert first["variables"]["requestId"] == second["variables"]["requestId"] == "job-7"
        stats = client.get_pool(pool)
        assert stats is not None and stats.in_use == 1, "the lost answer leaked an object"
        assert held.obj == 1
    stats = client.get_pool(pool)
    assert stats is not None and stats.in_use == 0


def test_module_level_lease_uses_the_environment(
    server: LiveServer, pool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBJMGR_URL", server.base_url)
    monkeypatch.delenv("OBJMGR_TOKEN", raising=False)
    with lease(pool, ttl=10, owner="script") as held:
        assert Client().get_lease(held.obj, pool) == held.lease
        assert held.lease.owner == "script"
    assert Client().get_lease(held.obj, pool) is None
