"""Subscriptions over GraphQL over SSE through Flask's test client, on every store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from app import Settings, create_app
from app.api.subscriptions import SubscriptionRequest
from app.pool.lease import Caller
from app.watching import WatchHub, WatchLimits

from .api_support import Api, MakeApi, code_of
from .conditions import wait_until
from .sse_support import EVENT_STREAM, POOL_EVENTS, SseReader, open_stream

ADMIN = Caller.auth_off()
RESIZE = 'mutation($size: Int!) { resizePool(name: "default", size: $size) { success } }'


def hub_of(app: Flask) -> WatchHub:
    hub = app.extensions["objmgr.watch"]
    assert isinstance(hub, WatchHub)
    return hub


def resize(api: Api, *sizes: int) -> None:
    for size in sizes:
        assert api.data(RESIZE, {"size": size})["resizePool"]["success"]


def last_seq(api: Api) -> int:
    return int(api.data("{ events(first: 1000) { seq } }")["events"][-1]["seq"])


@pytest.fixture
def reader(api: Api) -> Iterator[SseReader]:
    """A stream of `default` after null."""
    stream = SseReader(open_stream(api.app))
    yield stream
    stream.close()


def test_a_stream_answers_with_the_protocols_headers(api: Api, reader: SseReader) -> None:
    headers = reader.response.headers
    assert headers["Content-Type"] == EVENT_STREAM
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"
    assert "Content-Length" not in headers
    assert headers["X-Request-Id"]


def test_after_null_then_live_in_order(api: Api, reader: SseReader) -> None:
    start = last_seq(api)
    resize(api, 5, 6, 7)
    events = reader.events(3)
    assert [(e["seq"], e["kind"], e["size"]) for e in events] == [
        (start + 1, "POOL_RESIZED", 5),
        (start + 2, "POOL_RESIZED", 6),
        (start + 3, "POOL_RESIZED", 7),
    ]


def test_replay_from_after_then_live(api: Api) -> None:
    resize(api, 4, 5)
    api.data("mutation { acquireObject { success } }")
    journal = api.data("{ events(first: 1000) { seq kind obj size } }")["events"]
    stream = SseReader(open_stream(api.app, variables={"after": 1}))
    try:
        assert stream.events(len(journal) - 1) == journal[1:]
        resize(api, 9)
        assert stream.events(1) == [
            {"seq": journal[-1]["seq"] + 1, "kind": "POOL_RESIZED", "obj": None, "size": 9}
        ]
    finally:
        stream.close()


def test_get_with_accept_event_stream_streams_too(api: Api) -> None:
    stream = SseReader(open_stream(api.app, variables={"after": 0}, method="GET"))
    try:
        assert stream.events(1)[0]["kind"] == "POOL_CREATED"
    finally:
        stream.close()


def test_closing_the_stream_frees_its_place(api: Api) -> None:
    hub = hub_of(api.app)
    stream = SseReader(open_stream(api.app))
    assert hub.open_streams() == 1
    resize(api, 5)
    stream.events(1)
    stream.close()
    assert hub.open_streams() == 0
    wait_until(lambda: hub.followers() == 0, 10, "the follower to stop")


@pytest.mark.parametrize(
    ("query", "variables", "status", "code"),
    [
        pytest.param(
            "subscription { poolEvents { seq ", None, 400, "GRAPHQL_PARSE_FAILED", id="parse"
        ),
        pytest.param(
            "subscription { poolEvents { nope } }",
            None,
            400,
            "GRAPHQL_VALIDATION_FAILED",
            id="field",
        ),
        pytest.param(
            "subscription { a: poolEvents { seq } b: poolEvents { seq } }",
            None,
            400,
            "GRAPHQL_VALIDATION_FAILED",
            id="two-root-fields",
        ),
        pytest.param("{ version }", None, 400, "BAD_REQUEST", id="a-query"),
        pytest.param(
            "mutation { freeObject(obj: 1) { success } }", None, 400, "BAD_REQUEST", id="a-mutation"
        ),
        pytest.param(POOL_EVENTS, {"after": "x"}, 400, None, id="variable-type"),
        pytest.param(POOL_EVENTS, {"after": -1}, 400, "BAD_USER_INPUT", id="after-negative"),
        pytest.param(POOL_EVENTS, {"pool": "no spaces"}, 400, "BAD_USER_INPUT", id="pool-name"),
        pytest.param(
            "subscription { poolEvents @skip(if: true) { seq } }",
            None,
            400,
            "GRAPHQL_VALIDATION_FAILED",
            id="skipped",
        ),
    ],
)
def test_refusals_before_the_stream_are_json(
    api: Api, query: str, variables: dict[str, object] | None, status: int, code: str | None
) -> None:
    response = open_stream(api.app, query, variables)
    assert response.status_code == status
    assert response.mimetype == "application/json"
    if code is not None:
        assert code_of(response) == code
    assert hub_of(api.app).open_streams() == 0


def test_an_operation_over_the_cost_limit_is_refused(make_api: MakeApi) -> None:
    api = make_api(max_cost=3)
    response = open_stream(api.app, "subscription { poolEvents { seq kind obj size } }")
    assert response.status_code == 400
    assert code_of(response) == "QUERY_TOO_COMPLEX"
    assert SseReader(open_stream(api.app, "subscription { poolEvents { seq } }")).response


def test_a_subscription_over_plain_json_is_refused(api: Api) -> None:
    for response in (
        api.post("subscription { poolEvents { seq } }"),
        api.get("subscription { poolEvents { seq } }"),
    ):
        assert response.status_code == 400
        assert code_of(response) == "BAD_REQUEST"
        assert "text/event-stream" in response.get_json()["errors"][0]["message"]


def test_a_replay_past_the_journal_ends_with_events_trimmed(make_api: MakeApi) -> None:
    api = make_api(events_keep=20)
    # Redis trims whole stream nodes, keeping fewer than keep + 100 events.
    resize(api, *range(4, 4 + 20 + 130))
    stream = SseReader(open_stream(api.app, variables={"after": 1}))
    assert stream.ending() == "EVENTS_TRIMMED"
    assert hub_of(api.app).open_streams() == 0


def test_limits_per_worker_answer_429(make_api: MakeApi) -> None:
    api = make_api(max_subscriptions=2)
    streams = [SseReader(open_stream(api.app)) for _ in range(2)]
    refused = open_stream(api.app)
    assert refused.status_code == 429
    assert code_of(refused) == "TOO_MANY_SUBSCRIPTIONS"
    streams[0].close()
    streams.append(SseReader(open_stream(api.app)))
    for stream in streams:
        stream.close()


def test_a_slow_consumer_is_ended_and_told(api: Api) -> None:
    hub = hub_of(api.app)
    hub.limits = WatchLimits(buffer=3)
    slow = SseReader(open_stream(api.app))
    keeping_up = SseReader(open_stream(api.app))
    try:
        for size in range(4, 10):
            resize(api, size)
            assert keeping_up.events(1)[0]["size"] == size
        assert slow.ending() == "SLOW_CONSUMER"
        assert hub.open_streams() == 1
    finally:
        keeping_up.close()


def test_shutting_down_ends_streams_with_complete(api: Api, reader: SseReader) -> None:
    resize(api, 5)
    reader.events(1)
    hub_of(api.app).shut_down()
    assert reader.ending() == "SHUTTING_DOWN"
    refused = open_stream(api.app)
    assert refused.status_code == 503
    assert code_of(refused) == "SHUTTING_DOWN"


SECRET = "alice-s3cret-0123456789"


@pytest.fixture
def auth_app(store_url: str) -> Iterator[Flask]:
    app = create_app(
        Settings.from_env(
            {
                "OBJMGR_STORE": store_url,
                "OBJMGR_TOKENS": f"alice:{SECRET}",
                "OBJMGR_WORKERS": "1",
                "OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": "1",
            }
        )
    )
    yield app
    app.extensions["objmgr"].store.close()


def test_auth_on_a_token_is_needed_and_limits_apply_per_principal(auth_app: Flask) -> None:
    for secret in (None, "wrong-secret"):
        refused = open_stream(auth_app, secret=secret)
        assert refused.status_code == 401
        assert code_of(refused) == "UNAUTHENTICATED"
    stream = SseReader(open_stream(auth_app, variables={"after": 0}, secret=SECRET))
    try:
        assert stream.events(1)[0]["kind"] == "POOL_CREATED"
        refused = open_stream(auth_app, secret=SECRET)
        assert refused.status_code == 429
        assert code_of(refused) == "TOO_MANY_SUBSCRIPTIONS"
    finally:
        stream.close()


def test_one_execution_serves_every_subscriber_of_a_document(api: Api) -> None:
    gate = api.app.extensions["objmgr.subscriptions"]
    query = "subscription($p: String!) { poolEvents(pool: $p) { seq kind } }"
    same = [gate.open(SubscriptionRequest(query, {"p": "default"}), ADMIN) for _ in range(2)]
    other = gate.open(SubscriptionRequest(query.replace("kind", "size"), {"p": "default"}), ADMIN)
    try:
        resize(api, 8)
        first, second, third = (subscription.next(10) for subscription in (*same, other))
        assert first is second
        assert first is not None and third is not None
        assert first["data"]["poolEvents"]["kind"] == "POOL_RESIZED"
        assert third["data"]["poolEvents"]["size"] == 8
    finally:
        for subscription in (*same, other):
            subscription.close()


def test_subscribers_resuming_from_different_seqs_share_each_result(api: Api) -> None:
    """`after` chooses where a stream starts, not what is selected of an event."""
    gate = api.app.extensions["objmgr.subscriptions"]
    query = "subscription($p: String!, $a: BigInt) { poolEvents(pool: $p, after: $a) { seq } }"
    last = last_seq(api)
    resumed = [
        gate.open(SubscriptionRequest(query, {"p": "default", "a": after}), ADMIN)
        for after in (last, None)
    ]
    try:
        resize(api, 8)
        first, second = (subscription.next(10) for subscription in resumed)
        assert first is second
        assert first is not None and first["data"]["poolEvents"]["seq"] == last + 1
    finally:
        for subscription in resumed:
            subscription.close()


def test_a_stream_counts_as_poolevents_for_the_time_it_took_to_open(api: Api) -> None:
    """The request-duration histogram times the opening, never the stream's life."""
    stream = SseReader(open_stream(api.app))
    stream.close()
    metrics = api.request("GET", "/metrics").get_data(as_text=True)
    count = 'objmgr_request_duration_seconds_count{operation="poolEvents"} 1.0'
    assert count in metrics.splitlines()
