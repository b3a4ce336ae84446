"""What a client is told when Redis stalls under a live server: the truth.

Real gunicorn workers on a real redis-server frozen by `DEBUG SLEEP`. Every
acquire whose script was sent answers OUTCOME_UNKNOWN (it may have been
granted), one never sent answers STORE_UNAVAILABLE (nothing changed), and a
retry with the same requestId finds every grant: no object leaks.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..live.support import HTTP_TIMEOUT, GraphQL, LiveServer, wait_until
from ..operations import ACQUIRE
from ..redis_server import DebuggableRedisServer, launch_debuggable_redis

pytestmark = pytest.mark.live

CLIENTS = 6
SLEEP = 3


@pytest.fixture
def debug_redis(tmp_path: Path) -> Iterator[DebuggableRedisServer]:
    server = launch_debuggable_redis(tmp_path / "redis")
    yield server
    server.stop()


def _asleep(server: DebuggableRedisServer) -> bool:
    with redis.Redis(port=server.port, socket_timeout=0.2, retry=Retry(NoBackoff(), 0)) as probe:
        try:
            probe.ping()
        except (redis.TimeoutError, redis.ConnectionError):
            return True
    return False


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
    wait_until(lambda: _asleep(debug_redis), HTTP_TIMEOUT, "Redis to stall")
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
