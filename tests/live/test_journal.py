"""The journal of a real server (rule R9): changes made through every worker, and
every host on Redis, land in one journal in commit order with no gap; a worker
killed with SIGKILL and the whole server restarted lose none of it.

The journal is read from the store itself (`open_store` on the server's URL), as
a second process of the service would, so these tests stand apart from the API.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from app.pool.events import Event, EventKind
from app.stores import open_store

from ..support.redis_server import RedisServer
from .conftest import ServerFactory
from .support import LiveServer

pytestmark = pytest.mark.live

POOL_SIZE = 40
CLIENTS = 6
ROUNDS = 15
PAGE = 1000

Granted = tuple[int, int, str, str]  # obj, token, owner, label


def read_journal(url: str, pool: str = "default") -> list[Event]:
    store = open_store(url)
    try:
        events: list[Event] = []
        while page := store.events(pool, events[-1].seq if events else 0, PAGE):
            events.extend(page)
        return events
    finally:
        store.close()


def sqlite_url(server: LiveServer) -> str:
    return f"sqlite:///{server.database}"


@dataclass
class Answers:
    """What clients were answered: the grants and frees made, and the requests
    whose answer was lost (the change may or may not have been made)."""

    granted: list[Granted] = field(default_factory=list)
    freed: list[tuple[int, int]] = field(default_factory=list)
    lost: int = 0

    def __add__(self, other: Answers) -> Answers:
        return Answers(
            self.granted + other.granted, self.freed + other.freed, self.lost + other.lost
        )


class Churn(Answers):
    """Client threads that take and give back objects on new connections, so that
    every worker serves some, and what they were answered."""

    def __init__(self, urls: list[str], rounds: int = ROUNDS) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._run, args=(urls[n % len(urls)], f"c{n}", rounds))
            for n in range(CLIENTS)
        ]

    def _run(self, url: str, owner: str, rounds: int) -> None:
        for round_ in range(rounds):
            label = f"{owner}-{round_}"
            try:
                lease = self._post(url, "acquireObject", owner=owner, label=label)
                if lease is None:
                    continue
                with self._lock:
                    self.granted.append((lease["obj"], lease["token"], owner, label))
                freed = self._post(url, "freeObject", obj=lease["obj"], token=lease["token"])
                if freed is not None:
                    with self._lock:
                        self.freed.append((lease["obj"], lease["token"]))
            except (requests.RequestException, ValueError):
                with self._lock:
                    self.lost += 1

    @staticmethod
    def _post(url: str, field: str, **arguments: Any) -> dict[str, Any] | None:
        """One mutation on a connection of its own; the lease, or None when refused."""
        if field == "acquireObject":
            document = (
                "mutation($owner: String, $label: String) { acquireObject(owner: $owner, "
                "label: $label) { success lease { obj token } } }"
            )
        else:
            document = (
                "mutation($obj: Int!, $token: BigInt) { freeObject(obj: $obj, token: $token) "
                "{ success obj } }"
            )
        with requests.Session() as session:
            answer = session.post(
                f"{url}/graphql", json={"query": document, "variables": arguments}, timeout=30
            )
        payload = answer.json()["data"][field]
        if not payload["success"]:
            return None
        return payload.get("lease") or {"obj": payload["obj"]}

    @contextmanager
    def running(self) -> Iterator[None]:
        for thread in self._threads:
            thread.start()
        try:
            yield
        finally:
            for thread in self._threads:
                thread.join(120)


def check_journal(events: list[Event], churn: Answers, *, lost_allowed: bool = False) -> None:
    """One journal in commit order: seq without gap, tokens growing with every grant,
    each object's grants and frees alternating, every answered change in it."""
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.kind for e in events].count(EventKind.POOL_CREATED) == 1
    grants = [e for e in events if e.kind is EventKind.GRANTED]
    tokens = [e.token for e in grants]
    assert tokens == sorted(set(tokens))  # type: ignore[type-var]
    held: dict[int, int] = {}
    for event in events:
        if event.kind is EventKind.GRANTED:
            assert event.obj is not None and event.token is not None
            assert event.obj not in held
            held[event.obj] = event.token
        elif event.kind is EventKind.FREED:
            assert event.obj is not None
            assert held.pop(event.obj) == event.token
    journaled = {(e.obj, e.token, e.owner, e.label) for e in grants}
    assert set(churn.granted) <= journaled
    assert {(e.obj, e.token) for e in events if e.kind is EventKind.FREED} >= set(churn.freed)
    if not lost_allowed:
        assert churn.lost == 0
        assert len(journaled) == len(churn.granted)
        assert len(events) == 1 + len(churn.granted) + len(churn.freed)


# rules R9, R1, R3
def test_changes_through_both_workers_land_in_one_journal_in_order(
    live_server: LiveServer,
) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": str(POOL_SIZE)})
    answers = Answers()
    for worker in live_server.workers():
        # Each worker alone first, so both are known to have written.
        with live_server.only_worker(worker):
            lone = Churn([live_server.base_url], rounds=1)
            with lone.running():
                pass
        answers += lone
    churn = Churn([live_server.base_url])
    with churn.running():
        pass
    answers += churn
    check_journal(read_journal(sqlite_url(live_server)), answers)
    assert len(answers.granted) == CLIENTS * (ROUNDS + 2)


# rules R9, R3
def test_a_killed_worker_and_a_restart_keep_every_event_and_seq_goes_on(
    live_server: LiveServer,
) -> None:
    live_server.start({"OBJMGR_POOL_SIZE": str(POOL_SIZE)})
    url = sqlite_url(live_server)
    before = Churn([live_server.base_url])
    with before.running():
        pass
    kept = read_journal(url)
    check_journal(kept, before)

    during = Churn([live_server.base_url], rounds=3 * ROUNDS)
    with during.running():
        # Killed while clients are being served: an answer may be lost, no event.
        live_server.kill_worker(live_server.workers()[0])
    live_server.kill9()
    crashed = read_journal(url)
    assert crashed[: len(kept)] == kept

    live_server.restart()
    after = Churn([live_server.base_url])
    with after.running():
        pass
    events = read_journal(url)
    assert events[: len(crashed)] == crashed
    # seq goes on from the last event before the crash, with the first change after it:
    # the restart wrote nothing of its own (`default` was there already).
    first_after = events[len(crashed)]
    assert first_after.seq == crashed[-1].seq + 1
    assert (first_after.kind, first_after.owner) in {
        (EventKind.GRANTED, owner) for _, _, owner, _ in after.granted
    }
    check_journal(events, before + during + after, lost_allowed=True)


# rules R9, R1, R3
def test_two_hosts_on_one_redis_write_one_journal(
    live_servers: ServerFactory, own_redis: RedisServer
) -> None:
    hosts = [live_servers() for _ in range(2)]
    for host in hosts:
        host.start({"OBJMGR_STORE": own_redis.url, "OBJMGR_POOL_SIZE": str(POOL_SIZE)})
    churn = Churn([host.base_url for host in hosts])
    with churn.running():
        pass
    check_journal(read_journal(own_redis.url), churn)
    assert {owner for _, _, owner, _ in churn.granted} == {f"c{n}" for n in range(CLIENTS)}
