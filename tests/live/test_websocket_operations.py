"""GraphQL subscriptions over WebSocket against live gunicorn with two workers: events in
order from any worker or host, replay with `after`, resuming after a killed worker,
`complete`, refusals and the bounds on operations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.api import websocket

from .support import LiveServer
from .ws_client import TOKENS, Socket, acquire, closed_after, new_pool, open_socket

pytestmark = pytest.mark.live


@pytest.fixture
def sockets(server: LiveServer) -> Iterator[list[Socket]]:
    yield from closed_after([])


def test_events_made_through_the_other_worker_come_in_order(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    first, second = server.workers()
    with server.only_worker(first):
        each = open_socket(server, sockets)
        each.init()
        each.subscribe("watch", pool)
        each.sync()
    with server.only_worker(second):
        objects = [acquire(server, pool, f"other-{n}") for n in range(5)]
    events = each.events("watch", 5)
    assert [event["obj"] for event in events] == objects
    assert [event["label"] for event in events] == [f"other-{n}" for n in range(5)]
    seqs = [event["seq"] for event in events]
    assert seqs == list(range(seqs[0], seqs[0] + 5))


def test_after_replays_the_journal_then_goes_on_live(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    made = [acquire(server, pool, f"before-{n}") for n in range(4)]
    each = open_socket(server, sockets)
    each.init()
    each.subscribe("all", pool, after=0)
    replayed = each.events("all", 5)
    assert replayed[0]["kind"] == "POOL_CREATED"
    assert [event["obj"] for event in replayed[1:]] == made
    created_seq = replayed[0]["seq"]
    each.subscribe("later", pool, after=replayed[2]["seq"])
    assert [event["obj"] for event in each.events("later", 2)] == made[2:]
    live = acquire(server, pool, "live")
    ends = {
        msg["id"]: msg["payload"]["data"]["poolEvents"] for msg in (each.receive(), each.receive())
    }
    assert {event["obj"] for event in ends.values()} == {live}
    assert ends["all"]["seq"] == ends["later"]["seq"] == created_seq + 5


def test_a_killed_worker_loses_nothing_for_a_client_that_resumes_with_its_last_seq(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    first, second = server.workers()
    with server.only_worker(first):
        each = open_socket(server, sockets)
        each.init()
        each.subscribe("w", pool, after=0)
    for n in range(3):
        acquire(server, pool, f"before-{n}")
    seen = [event["seq"] for event in each.events("w", 4)]
    with server.only_worker(second):
        server.kill_worker(first)
        for n in range(5):
            acquire(server, pool, f"meanwhile-{n}")
    # No close frame from a killed process: the connection just ends.
    each.closed_with()
    resumed = open_socket(server, sockets)
    resumed.init()
    resumed.subscribe("w", pool, after=seen[-1])
    acquire(server, pool, "after")
    seen += [event["seq"] for event in resumed.events("w", 6)]
    assert seen == list(range(seen[0], seen[0] + 10))


def test_redis_events_of_another_host_come_in_order(
    redis_hosts: tuple[LiveServer, LiveServer],
) -> None:
    watcher, changer = redis_hosts
    pool = new_pool(changer)
    each = Socket(watcher.base_url)
    try:
        each.init()
        each.subscribe("live", pool)
        each.sync()
        objects = [acquire(changer, pool, f"elsewhere-{n}") for n in range(5)]
        events = each.events("live", 5)
        assert [event["obj"] for event in events] == objects
        each.subscribe("replay", pool, after=0)
        replayed = each.events("replay", 6)
        assert replayed[0]["kind"] == "POOL_CREATED"
        assert replayed[1:] == events
    finally:
        each.close()


def test_complete_stops_one_operation_and_leaves_the_others(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    each = open_socket(server, sockets)
    each.init()
    each.subscribe("stays", pool)
    each.subscribe("goes", pool)
    each.sync()
    each.send({"id": "goes", "type": "complete"})
    each.send({"id": "never-was", "type": "complete"})
    each.sync()
    acquire(server, pool, "after-complete")
    (event,) = each.events("stays", 1)
    assert event["label"] == "after-complete"
    each.sync()
    # The id is free again once completed.
    each.subscribe("goes", pool)
    each.sync()
    acquire(server, pool, "again")
    got = {each.receive()["id"] for _ in range(2)}
    assert got == {"stays", "goes"}


def test_a_query_or_mutation_over_the_socket_is_refused_with_an_error(
    server: LiveServer, sockets: list[Socket]
) -> None:
    each = open_socket(server, sockets)
    each.init()
    each.send({"id": "q", "type": "subscribe", "payload": {"query": "{ version }"}})
    message = each.receive()
    assert (message["id"], message["type"]) == ("q", "error")
    assert message["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
    each.send({"id": "bad", "type": "subscribe", "payload": {"query": "subscription {"}})
    message = each.receive()
    assert (message["id"], message["type"]) == ("bad", "error")
    assert message["payload"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    each.sync()


def test_operations_beyond_the_sockets_bound_get_an_error_for_their_id(
    server: LiveServer, sockets: list[Socket]
) -> None:
    pool = new_pool(server)
    each = open_socket(server, sockets)
    each.init()
    for n in range(websocket.MAX_OPERATIONS):
        each.subscribe(f"op-{n}", pool)
    each.subscribe("one-too-many", pool)
    message = each.receive()
    assert (message["id"], message["type"]) == ("one-too-many", "error")
    assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
    each.sync()


def test_the_gates_limit_per_principal_comes_as_an_error_for_that_id(
    live_server: LiveServer,
) -> None:
    live_server.start(
        {**TOKENS, "OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1", "OBJMGR_WORKERS": "1"}
    )
    alice = Socket(live_server.base_url, authorization="Bearer s3cret")
    root = Socket(live_server.base_url, authorization="Bearer r00t")
    try:
        alice.init()
        alice.subscribe("first", "default")
        alice.sync()
        alice.subscribe("second", "default")
        message = alice.receive()
        assert (message["id"], message["type"]) == ("second", "error")
        assert message["payload"][0]["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        # Another principal has a place of its own, and alice's socket goes on.
        root.init()
        root.subscribe("theirs", "default")
        root.sync()
        alice.sync()
    finally:
        alice.close()
        root.close()
