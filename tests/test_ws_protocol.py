"""graphql-transport-ws, message by message: what each message earns, no socket needed."""

from __future__ import annotations

import json

import pytest

from app.api import ws_protocol as protocol
from app.api.subscriptions import SubscriptionRequest
from app.api.ws_protocol import CloseSocket, SocketState

QUERY = "subscription { poolEvents { seq } }"


def _closes_with(code: int, data: str | bytes) -> CloseSocket:
    with pytest.raises(CloseSocket) as refused:
        protocol.parse(data)
    assert refused.value.code == code
    return refused.value


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        b"\xff\xfe",
        "[1, 2]",
        '"connection_init"',
        "{}",
        '{"type": 7}',
        '{"type": ""}',
        '{"type": "connection_ack"}',
        '{"type": "next", "id": "1", "payload": {}}',
        '{"type": "error", "id": "1", "payload": []}',
        '{"type": "subscription_start"}',
        '{"type": "connection_init", "payload": "token"}',
        '{"type": "ping", "payload": [1]}',
        '{"type": "subscribe", "payload": {"query": "' + QUERY + '"}}',
        '{"type": "subscribe", "id": "", "payload": {"query": "' + QUERY + '"}}',
        '{"type": "subscribe", "id": 1, "payload": {"query": "' + QUERY + '"}}',
        '{"type": "subscribe", "id": "1"}',
        '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
        '{"type": "subscribe", "id": "1", "payload": {"query": "q", "variables": [1]}}',
        '{"type": "subscribe", "id": "1", "payload": {"query": "q", "extensions": 1}}',
        '{"type": "subscribe", "id": "1", "payload": {"query": "q", "operationName": 1}}',
        '{"type": "complete"}',
        '{"type": "complete", "id": 3}',
        "[" * 100_000,
        '{"type": "ping", "payload": {"n": 1' + "0" * 5000 + "}}",
    ],
)
def test_anything_the_protocol_does_not_define_closes_with_4400(data: str | bytes) -> None:
    refusal = _closes_with(protocol.BAD_REQUEST, data)
    assert refusal.reason.startswith("Invalid message received")
    assert len(refusal.reason.encode()) <= protocol.MAX_CLOSE_REASON


def test_each_client_message_is_read_with_its_fields() -> None:
    assert protocol.parse('{"type": "connection_init"}') == protocol.ConnectionInit(None)
    assert protocol.parse(
        b'{"type": "connection_init", "payload": {"Authorization": "Bearer t"}}'
    ) == protocol.ConnectionInit({"Authorization": "Bearer t"})
    assert protocol.parse('{"type": "ping", "payload": {"at": 1}}') == protocol.Ping({"at": 1})
    assert protocol.parse('{"type": "pong", "payload": null}') == protocol.Pong(None)
    assert protocol.parse('{"type": "complete", "id": "a"}') == protocol.Complete("a")
    subscribe = json.dumps(
        {
            "type": "subscribe",
            "id": "op-1",
            "payload": {
                "query": QUERY,
                "variables": {"after": 3},
                "operationName": "Watch",
                "extensions": None,
            },
        }
    )
    assert protocol.parse(subscribe) == protocol.Subscribe(
        "op-1",
        SubscriptionRequest(query=QUERY, variables={"after": 3}, operation_name="Watch"),
    )


def test_the_token_comes_from_the_init_payload_before_the_upgrade_header() -> None:
    assert protocol.authorization({"Authorization": "Bearer a"}, "Bearer b") == "Bearer a"
    assert protocol.authorization({"authorization": "Bearer a"}, None) == "Bearer a"
    assert protocol.authorization({"other": 1}, "Bearer b") == "Bearer b"
    assert protocol.authorization(None, "Bearer b") == "Bearer b"
    assert protocol.authorization({"Authorization": 5}, None) is None


def test_a_second_connection_init_closes_with_4429() -> None:
    state = SocketState(max_operations=2)
    state.connection_init()
    with pytest.raises(CloseSocket) as refused:
        state.connection_init()
    assert refused.value.code == protocol.TOO_MANY_INITIALISATION_REQUESTS


def test_subscribe_before_the_ack_closes_with_4401() -> None:
    state = SocketState(max_operations=2)
    state.connection_init()
    with pytest.raises(CloseSocket) as refused:
        state.subscribe("1")
    assert (refused.value.code, refused.value.reason) == (protocol.UNAUTHORIZED, "Unauthorized")


def test_an_id_in_use_closes_with_4409_and_is_free_again_once_finished() -> None:
    state = SocketState(max_operations=2)
    state.connection_init()
    state.acknowledge()
    assert state.subscribe("a")
    with pytest.raises(CloseSocket) as refused:
        state.subscribe("a")
    assert refused.value.code == protocol.SUBSCRIBER_EXISTS
    assert refused.value.reason == "Subscriber for a already exists"
    assert state.finish("a")
    assert not state.finish("a"), "an id ended already is ignored, not an error"
    assert state.subscribe("a")


def test_a_long_id_is_cut_in_the_close_reason() -> None:
    state = SocketState(max_operations=2)
    state.acknowledge()
    long_id = "é" * 500
    state.subscribe(long_id)
    with pytest.raises(CloseSocket) as refused:
        state.subscribe(long_id)
    assert len(refused.value.reason.encode()) <= protocol.MAX_CLOSE_REASON
    assert refused.value.reason.startswith("Subscriber for éé")


def test_operations_beyond_the_bound_are_refused_not_closed() -> None:
    state = SocketState(max_operations=2)
    state.acknowledge()
    assert state.subscribe("1") and state.subscribe("2")
    assert not state.subscribe("3")
    assert state.active == {"1", "2"}
    state.finish("1")
    assert state.subscribe("3")
    (error,) = protocol.too_many_operations(2)
    assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"


def test_the_server_messages_are_the_protocols() -> None:
    assert json.loads(protocol.ack_message()) == {"type": "connection_ack"}
    assert json.loads(protocol.ping_message()) == {"type": "ping"}
    assert json.loads(protocol.pong_message(None)) == {"type": "pong"}
    assert json.loads(protocol.pong_message({"n": 1})) == {"type": "pong", "payload": {"n": 1}}
    result = {"data": {"poolEvents": {"seq": 4}}}
    assert json.loads(protocol.next_message("x", result)) == {
        "id": "x",
        "type": "next",
        "payload": result,
    }
    errors = [{"message": "gone", "extensions": {"code": "EVENTS_TRIMMED"}}]
    assert json.loads(protocol.error_message("x", errors)) == {
        "id": "x",
        "type": "error",
        "payload": errors,
    }
