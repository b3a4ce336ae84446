"""Many client processes at once against several workers: no object goes to two holders."""

from __future__ import annotations

import multiprocessing
import queue

import pytest

from .support import HTTP_TIMEOUT, LiveServer, Outcome, hammer

pytestmark = pytest.mark.live

POOL_SIZE = 200
PROCESSES = 6
ATTEMPTS = 40  # 240 acquires for 200 objects: 40 must be refused


@pytest.mark.parametrize("workers", [2, 3])
def test_every_object_is_handed_out_once(live_server: LiveServer, workers: int) -> None:
    # fork: the clients start at once with what pytest imported; each opens its own connection.
    context = multiprocessing.get_context("fork")
    start = context.Barrier(PROCESSES + 1)
    results = context.Queue()
    processes = [
        context.Process(
            target=hammer, args=(live_server.base_url, ATTEMPTS, f"client-{n}", start, results)
        )
        for n in range(PROCESSES)
    ]
    reports: dict[str, list[Outcome]] = {}
    try:
        # They wait at the barrier, so that all of them begin at once.
        for process in processes:
            process.start()
        live_server.start({"OBJMGR_WORKERS": str(workers), "OBJMGR_POOL_SIZE": str(POOL_SIZE)})
        worker_pids = live_server.workers()
        assert len(worker_pids) == workers
        start.wait(timeout=HTTP_TIMEOUT)
        for _ in processes:
            try:
                label, report = results.get(timeout=2 * HTTP_TIMEOUT)
            except queue.Empty:
                pytest.fail(f"a client process gave no report:\n{live_server.output()}")
            assert not isinstance(report, str), report
            reports[label] = report
    finally:
        start.abort()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)

    granted = [(obj, token) for report in reports.values() for obj, token, _ in report if obj]
    refused = [code for report in reports.values() for obj, _, code in report if obj is None]
    objects = [obj for obj, _ in granted]
    tokens = [token for _, token in granted]

    assert len(objects) == len(set(objects)), "an object was granted twice"
    assert len(tokens) == len(set(tokens)), "a fencing token was granted twice"
    assert sorted(objects) == list(range(1, POOL_SIZE + 1))
    assert len(refused) == PROCESSES * ATTEMPTS - POOL_SIZE
    assert set(refused) == {"POOL_EXHAUSTED"}
    for report in reports.values():
        # One client's grants happen one after another: later grants carry
        # higher tokens and, while only fresh objects are handed out, higher objects.
        mine = [(obj, token) for obj, token, _ in report if obj]
        assert mine == sorted(mine)
        assert [token for _, token in mine] == sorted(token for _, token in mine)

    stats = live_server.client().pool()
    assert (stats["inUse"], stats["available"]) == (POOL_SIZE, 0)
    # Every worker lived through the load: none crashed and was replaced.
    assert live_server.workers() == worker_pids


def test_each_worker_alone_serves_the_same_pool(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "4"})
    first, second = live_server.workers()

    with live_server.only_worker(first):
        client = live_server.client()
        by_first = [client.acquire(owner="first") for _ in range(2)]
    with live_server.only_worker(second):
        client = live_server.client()
        by_second = [client.acquire(owner="second") for _ in range(2)]
        freed = client.free(1, token=by_first[0]["lease"]["token"])
    with live_server.only_worker(first):
        client = live_server.client()
        again = client.acquire(owner="first")
        exhausted = client.acquire(owner="first")

    assert [p["lease"]["obj"] for p in by_first] == [1, 2]
    # The second worker knows what the first handed out: it goes on with 3 and 4.
    assert [p["lease"]["obj"] for p in by_second] == [3, 4]
    assert freed["success"] is True
    # The first worker sees the object the second one freed, under a new token.
    assert again["success"] is True
    assert again["lease"]["obj"] == 1
    assert again["lease"]["token"] > by_second[-1]["lease"]["token"]
    assert (exhausted["success"], exhausted["code"]) == (False, "POOL_EXHAUSTED")
