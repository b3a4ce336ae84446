"""A waiter whose worker was killed must not keep a freed object from everyone else.

A waiter whose worker died (SIGKILL) while serving an `acquireObject(wait: ...)`
keeps its ticket at the head of the pool's queue until the store sees that its
process is gone (SQLite at once, by the process's pid and start time; Redis when
the process's session key expires). The contract wants a freed object to go to
"the oldest *live* waiter", so that window must stay short enough that the pool
is granting again within seconds.
"""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
import requests
from objmgr_client.operations import ACQUIRE

from ..live.support import HTTP_TIMEOUT, LiveServer, wait_until

pytestmark = pytest.mark.live

PROMPTLY = 1.0


def test_a_killed_waiter_does_not_stall_the_pool(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"})
    assert live_server.client().acquire(owner="holder")["success"]
    doomed = live_server.workers()[0]

    def wait_for_the_object() -> None:
        # Its answer never comes: the worker serving it dies.
        with contextlib.suppress(requests.RequestException):
            requests.post(
                f"{live_server.base_url}/graphql",
                json={"query": ACQUIRE, "variables": {"owner": "waiter", "wait": 20}},
                timeout=HTTP_TIMEOUT,
            )

    waiter = threading.Thread(target=wait_for_the_object, daemon=True)
    with live_server.only_worker(doomed):
        waiter.start()
        observer = live_server.client()
        wait_until(lambda: observer.pool()["waiting"] == 1, 5, "the waiter to queue")
        live_server.kill_worker(doomed)
    waiter.join(timeout=5)

    assert live_server.client().free(1)["success"]
    freed = time.monotonic()
    taker = live_server.client()
    while True:
        payload = taker.acquire(owner="taker")
        if payload["success"] or time.monotonic() - freed > PROMPTLY:
            break
        time.sleep(0.05)
    assert payload["success"], (
        f"object 1 is free and its only waiter is dead, yet after {PROMPTLY}s: {payload}"
    )
