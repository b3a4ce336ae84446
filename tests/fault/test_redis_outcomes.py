"""What clients of live servers on Redis are told under faults: the truth.

Real gunicorn workers on a real redis-server frozen by `DEBUG SLEEP`: every
acquire whose script was sent answers OUTCOME_UNKNOWN (it may have been
granted), one never sent answers STORE_UNAVAILABLE (nothing changed), and a
retry with the same requestId finds every grant: no object leaks. Waiters on
two hosts, one of them on a worker killed: the live one is served.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from objmgr_client.operations import ACQUIRE

from app.stores.redis.model import SESSION_TTL

from ..live.support import HTTP_TIMEOUT, GraphQL, LiveServer, wait_until
from ..support.redis_server import DebuggableRedisServer

pytestmark = pytest.mark.live

CLIENTS = 6
SLEEP = 3


def test_acquires_in_flight_during_a_stall_are_outcome_unknown_and_none_leaks(
    live_server: LiveServer, debug_redis: DebuggableRedisServer
) -> None:
    live_server.start(
        {"OBJMGR_STORE": debug_redis.url, "OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "20"}
    )
    clients = [live_server.client() for _ in range(CLIENTS)]
    assert clients[0].pool()["inUse"] == 0

    def acquire(number: int) -> dict[str, Any]:
        variables = {"owner": f"c{number}", "requestId": "job", "ttl": 600}
        return clients[number].data(ACQUIRE, variables)["acquireObject"]

    sleeper = debug_redis.client(timeout=SLEEP + 5)
    asleep = threading.Thread(target=sleeper.execute_command, args=("DEBUG", "SLEEP", SLEEP))
    asleep.start()
    wait_until(debug_redis.stalled, HTTP_TIMEOUT, "Redis to stall")
    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(acquire, range(CLIENTS)))
    asleep.join(SLEEP + 10)
    sleeper.close()

    codes = {answer["code"] for answer in answers}
    assert codes <= {"OUTCOME_UNKNOWN", "STORE_UNAVAILABLE"}, answers
    assert "OUTCOME_UNKNOWN" in codes, answers
    for answer in answers:
        assert "retry" in answer["message"], answer

    # What Redis ran once it woke up is there; the retries find it.
    admin = GraphQL(live_server.base_url)
    held = {lease["owner"]: lease for lease in admin.leases()}
    unknown = {f"c{n}" for n, answer in enumerate(answers) if answer["code"] == "OUTCOME_UNKNOWN"}
    assert set(held) <= unknown, "an answer of STORE_UNAVAILABLE hid a grant"
    retried = [acquire(number) for number in range(CLIENTS)]
    assert all(answer["success"] for answer in retried), retried
    for answer in retried:
        lease = answer["lease"]
        if lease["owner"] in held:
            assert lease == held[lease["owner"]], "the retry did not find the grant"
    assert admin.pool()["inUse"] == CLIENTS, "a lost reply leaked an object"
    for client in (*clients, admin):
        client.close()


def test_waiters_on_two_hosts_are_served_in_turn_and_a_killed_ones_passed(
    live_servers: Callable[[], LiveServer], debug_redis: DebuggableRedisServer
) -> None:
    hosts = [live_servers() for _ in range(2)]
    for host in hosts:
        host.start(
            {"OBJMGR_STORE": debug_redis.url, "OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "1"}
        )
    # The second host's: the first's workers are stopped and killed below.
    holder = hosts[1].client()
    held = holder.acquire(owner="holder")["lease"]
    doomed = hosts[0].workers()[0]
    answers: dict[str, dict[str, Any]] = {}

    def wait_on(host: LiveServer, owner: str) -> None:
        with contextlib.suppress(requests.RequestException):
            answers[owner] = host.client().acquire(owner=owner, wait=20)

    first = threading.Thread(target=wait_on, args=(hosts[0], "doomed"), daemon=True)
    with hosts[0].only_worker(doomed):
        first.start()
        wait_until(lambda: holder.pool()["waiting"] == 1, 10, "the doomed waiter to queue")
    second = threading.Thread(target=wait_on, args=(hosts[1], "second"), daemon=True)
    second.start()
    wait_until(lambda: holder.pool()["waiting"] == 2, 10, "the second waiter to queue")
    hosts[0].kill_worker(doomed)
    first.join(10)

    # Freed on the first host, the object reaches the live waiter on the
    # second once the dead one's session ran out.
    freer = hosts[0].client()
    assert freer.free(held["obj"])["success"]
    freer.close()
    second.join(SESSION_TTL + 15)
    assert answers["second"]["success"], answers
    assert "doomed" not in answers
    assert holder.pool()["waiting"] == 0
    holder.close()
