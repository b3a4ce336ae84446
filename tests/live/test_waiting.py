"""Leases that expire by themselves, and clients that wait for an object, on real workers."""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pytest
import requests
from objmgr_client.operations import ACQUIRE

from .support import HTTP_TIMEOUT, LiveServer, wait_until

pytestmark = pytest.mark.live


def test_expired_lease_goes_to_a_waiting_client(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": "1"})
    first, second = live_server.client(), live_server.client()

    short = first.acquire(owner="first", ttl=0.5)
    assert short["success"] is True
    assert short["lease"]["expiresAt"] is not None
    # Nobody frees object 1: it comes back when the lease runs out.
    taken = second.acquire(owner="second", wait=10)

    assert taken["success"] is True, taken
    assert taken["lease"]["obj"] == 1
    assert taken["lease"]["token"] > short["lease"]["token"]
    assert taken["lease"]["expiresAt"] is None
    assert second.lease(1) == taken["lease"]
    # The first holder's late free carries a stale token and must not free the new lease.
    late = first.free(1, token=short["lease"]["token"])
    assert (late["success"], late["code"]) == (False, "STALE_TOKEN")
    assert second.lease(1) == taken["lease"]


def test_waiters_are_served_in_arrival_order_across_workers(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"})
    holder = live_server.client()
    held = holder.acquire(owner="holder")
    assert held["success"] is True
    worker_a, worker_b = live_server.workers()

    # Waiters on both workers, w0 and w2 on one and w1 on the other, so that
    # the order is kept by the shared store and not by one worker's memory.
    placements = {"w0": worker_a, "w1": worker_b, "w2": worker_a}
    waiters: dict[str, concurrent.futures.Future[dict[str, Any]]] = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as executor:
        for owner, worker in placements.items():
            with live_server.only_worker(worker):
                waiters[owner] = executor.submit(live_server.acquire_once, owner=owner, wait=20)
                wait_until(lambda: live_server.waiting() == len(waiters), 10, f"{owner} to queue")

        order = []
        lease = held["lease"]
        for _ in placements:
            # Auth is off: the current lease's token is what makes this its holder's free.
            # The waiters still waiting, taken before the free: the one it serves
            # may answer before the free itself does.
            pending = [f for f in waiters.values() if not f.done()]
            freed = holder.free(lease["obj"], token=lease["token"])
            assert freed["success"] is True, freed
            done, _ = concurrent.futures.wait(
                pending,
                timeout=HTTP_TIMEOUT,
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
            assert done, "no waiter got the freed object"
            assert len(done) == 1, "one free served two waiters"
            payload = done.pop().result()
            assert payload["success"] is True, payload
            lease = payload["lease"]
            order.append(lease["owner"])
            assert holder.lease(1) == lease

    assert order == ["w0", "w1", "w2"]
    assert holder.pool()["waiting"] == 0


def test_short_wait_times_out_and_leaves_the_queue(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": "1", "OBJMGR_MAX_WAIT": "0.5"})
    holder, waiter = live_server.client(), live_server.client()
    held = holder.acquire(owner="holder")

    timed_out = waiter.acquire(owner="waiter", wait=0.3)
    # An hour is capped by OBJMGR_MAX_WAIT; uncapped, the client's own timeout would fail this.
    capped = waiter.acquire(owner="waiter", wait=3600)

    for payload in (timed_out, capped):
        assert payload["success"] is False
        assert payload["code"] == "ACQUIRE_TIMEOUT"
        assert payload["lease"] is None
    assert holder.lease(1) == held["lease"]
    assert holder.pool()["waiting"] == 0
    # The waiter that gave up does not stand in the way of the next client.
    assert holder.free(1)["success"] is True
    assert waiter.acquire(owner="waiter")["lease"]["obj"] == 1


def test_a_waiter_that_hung_up_does_not_take_the_object(live_server: LiveServer) -> None:
    """A client whose own timeout is shorter than its `wait` gives up and goes away.

    The object freed afterwards must not be granted to that departed client,
    whose lease nobody knows about and nobody would ever free.
    """
    live_server.start({"OBJMGR_POOL_SIZE": "1"})
    holder = live_server.client()
    held = holder.acquire(owner="holder")
    with pytest.raises(requests.ReadTimeout):
        # A one-off request: requests closes its connection when it gives up.
        requests.post(
            f"{live_server.base_url}/graphql",
            json={"query": ACQUIRE, "variables": {"owner": "gone", "wait": 10}},
            timeout=0.5,
        )

    assert holder.free(1, token=held["lease"]["token"])["success"] is True
    newcomer = live_server.client().acquire(owner="newcomer", wait=2)

    assert newcomer["success"] is True, (newcomer, holder.lease(1))
    assert newcomer["lease"]["obj"] == 1
    assert holder.lease(1) == newcomer["lease"]
