"""`/metrics` of a real gunicorn with two workers on SQLite: the counts are the host's,
exact whichever worker answers the scrape, and stay so when a worker is killed."""

from __future__ import annotations

import multiprocessing
import os
import queue
from pathlib import Path
from typing import Any

import requests

from ..metrics_support import Scrape
from .support import HTTP_TIMEOUT, GraphQL, LiveServer, wait_until

CLIENTS = 4
ROUNDS = 25


def rounds(base_url: str, count: int, start: Any, results: Any) -> None:
    """Body of a client process: `count` rounds, each on a connection of its own, of a
    grant, its renewal and its free, an acquire of the full pool `tiny` and one of a pool that
    does not exist. Reports the rounds that went as expected."""
    try:
        start.wait(timeout=HTTP_TIMEOUT)
        done = 0
        for _ in range(count):
            client = GraphQL(base_url)
            try:
                lease = client.acquire(label="round", ttl=60)["lease"]
                renewal = client.data(
                    "mutation($obj: Int!, $token: BigInt!) "
                    "{ renewLease(obj: $obj, token: $token) { success } }",
                    {"obj": lease["obj"], "token": lease["token"]},
                )
                assert renewal["renewLease"]["success"], renewal
                freed = client.free(lease["obj"], token=lease["token"])["success"]
                full = client.acquire(pool="tiny")["code"]
                missing = client.acquire(pool=f"missing-{os.getpid()}-{done}")["code"]
            finally:
                client.close()
            if (freed, full, missing) == (True, "POOL_EXHAUSTED", "POOL_NOT_FOUND"):
                done += 1
        results.put(done)
    except BaseException as error:
        results.put(repr(error))


def scrape(base_url: str) -> Scrape:
    # requests.get opens a connection of its own: the worker that accepts it answers.
    response = requests.get(f"{base_url}/metrics", timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return Scrape(response.text)


def host_counts(found: Scrape) -> dict[str, float]:
    return {
        "granted": found.value("objmgr_leases_granted_total", pool="default"),
        "freed": found.value("objmgr_leases_freed_total", pool="default"),
        "renewed": found.value("objmgr_leases_renewed_total", pool="default"),
        "expired": found.value("objmgr_leases_expired_total", pool="default"),
        "exhausted": found.value(
            "objmgr_acquire_refused_total", pool="tiny", code="POOL_EXHAUSTED"
        ),
        "not found": found.value(
            "objmgr_acquire_refused_total", pool="_unknown", code="POOL_NOT_FOUND"
        ),
    }


def expected(rounds_done: int) -> dict[str, float]:
    # One more grant: the lease the test lets expire.
    return {
        "granted": rounds_done + 1,
        "freed": rounds_done,
        "renewed": rounds_done,
        "expired": 1,
        "exhausted": rounds_done,
        "not found": rounds_done,
    }


def every_worker_scrapes(server: LiveServer, times: int = 3) -> list[dict[str, float]]:
    """The counts as each worker in turn reports them, `times` scrapes each."""
    seen = []
    for worker in server.workers():
        with server.only_worker(worker):
            seen += [host_counts(scrape(server.base_url)) for _ in range(times)]
    return seen


def metrics_directory(server: LiveServer) -> Path:
    """The directory the workers count in: found through their open files."""
    for worker in server.workers():
        for fd in Path(f"/proc/{worker}/fd").iterdir():
            target = Path(os.readlink(fd))
            if target.parent.name.startswith("objmgr-metrics-"):
                return target.parent
    raise AssertionError("no worker has a file of the metrics directory open")


def run_clients(base_url: str) -> int:
    context = multiprocessing.get_context("fork")
    start = context.Barrier(CLIENTS)
    results = context.Queue()
    processes = [
        context.Process(target=rounds, args=(base_url, ROUNDS, start, results))
        for _ in range(CLIENTS)
    ]
    for process in processes:
        process.start()
    try:
        reports = [results.get(timeout=120) for _ in processes]
    except queue.Empty:
        raise AssertionError("a client process did not report") from None
    finally:
        for process in processes:
            process.join(10)
            if process.is_alive():
                process.kill()
    assert all(report == ROUNDS for report in reports), reports
    return CLIENTS * ROUNDS


def test_every_scrape_counts_every_worker_and_a_killed_one_stays_counted(
    live_server: LiveServer,
) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": "1000"})
    base_url = live_server.base_url
    setup = GraphQL(base_url)
    assert setup.data('mutation { createPool(name: "tiny", size: 1) { success } }')
    assert setup.acquire(pool="tiny")["success"]
    assert setup.acquire(ttl=0.1)["success"]
    setup.close()
    # Reclaimed by whichever worker's reaper comes first, and counted by that worker.
    wait_until(
        lambda: scrape(base_url).value("objmgr_leases_expired_total", pool="default") == 1,
        what="the short lease to be reclaimed",
    )

    done = run_clients(base_url)
    # Both workers served some of those rounds, or there would be nothing to add up.
    directory = metrics_directory(live_server)
    assert len(list(directory.glob("counter_*.db"))) == 2

    assert every_worker_scrapes(live_server) == [expected(done)] * 6

    killed = live_server.workers()[0]
    live_server.kill_worker(killed)
    wait_until(
        lambda: len(live_server.workers()) == 2 and killed not in live_server.workers(),
        what="the master to fork a new worker",
    )
    assert every_worker_scrapes(live_server) == [expected(done)] * 6
    assert (directory / f"counter_{killed}.db").exists()

    done += run_clients(base_url)
    assert every_worker_scrapes(live_server) == [expected(done)] * 6
    found = scrape(base_url)
    assert found.value("objmgr_leases_granted_total", pool="tiny") == 1
    assert found.value("objmgr_store_up") == 1
    assert found.pools()["tiny"] == {
        "size": 1,
        "in_use": 1,
        "available": 0,
        "waiting": 0,
        "cooling": 0,
    }

    live_server.stop()
    assert not directory.exists(), "the master removes its metrics directory at exit"


def test_the_metrics_token_guards_a_live_scrape(live_server: LiveServer) -> None:
    secret = "a-metrics-secret-of-this-test"
    base_url = live_server.start({"OBJMGR_METRICS_TOKEN": secret})
    refused = requests.get(f"{base_url}/metrics", timeout=HTTP_TIMEOUT)
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    answered = requests.get(
        f"{base_url}/metrics", headers={"Authorization": f"Bearer {secret}"}, timeout=HTTP_TIMEOUT
    )
    assert answered.status_code == 200
    assert Scrape(answered.text).value("objmgr_store_up") == 1
