"""`/metrics` in-process, on every store: each counter moves by exactly the events
made, the gauges are the store's counts, the token guards it, labels stay bounded."""

from __future__ import annotations

import hashlib
import secrets
import threading

import pytest

from app.metrics import collector

from .api_support import Api, MakeApi, granted, memory_app, refused, served_by_a_free
from .conditions import wait_until
from .metrics_support import Scrape

LEASE_COUNTERS = ("granted", "freed", "expired", "renewed", "revoked")


def scrape(api: Api, **headers: str) -> Scrape:
    response = api.request("GET", "/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version="), response.content_type
    return Scrape(response.get_data(as_text=True))


def lease_counts(api: Api, pool: str = "default") -> dict[str, float]:
    found = scrape(api)
    return {kind: found.value(f"objmgr_leases_{kind}_total", pool=pool) for kind in LEASE_COUNTERS}


def test_each_lease_counter_moves_by_exactly_the_events_made(api: Api) -> None:
    first = granted(api.acquire(owner="a"))["lease"]
    second = granted(api.acquire(owner="b", ttl=0.05))["lease"]
    granted(api.renew(first["obj"], first["token"], ttl=60))
    granted(api.renew(first["obj"], first["token"], ttl=60))
    granted(api.free(first["obj"], token=first["token"]))
    # A replayed acquire (same owner and request id) grants nothing, so counts nothing.
    third = granted(api.acquire(owner="c", request_id="r-1"))["lease"]
    granted(api.acquire(owner="c", request_id="r-1"))
    refused(api.free(third["obj"], token=third["token"] + 100), "STALE_TOKEN")

    # The reaper reclaims the short lease by itself: its expiry is counted once it did.
    wait_until(lambda: lease_counts(api)["expired"] == 1, what=f"object {second['obj']} to expire")
    assert lease_counts(api) == {
        "granted": 3,
        "freed": 1,
        "expired": 1,
        "renewed": 2,
        "revoked": 0,
    }


def test_refusals_are_counted_by_code(api: Api) -> None:
    for _ in range(3):
        granted(api.acquire())
    refused(api.acquire(), "POOL_EXHAUSTED")
    refused(api.acquire(), "POOL_EXHAUSTED")
    assert api.get_object() is None  # getObject's null is an exhausted pool too
    refused(api.acquire(wait=0.01), "ACQUIRE_TIMEOUT")
    refused(api.acquire(pool="no-such-pool"), "POOL_NOT_FOUND")
    refused(api.acquire(pool="not a name!"), "BAD_USER_INPUT")
    refused(api.acquire(ttl=-1), "BAD_USER_INPUT")

    found = scrape(api)
    counted = {
        (labels["pool"], labels["code"]): found.value("objmgr_acquire_refused_total", **labels)
        for labels in found.series("objmgr_acquire_refused_total")
    }
    assert counted == {
        ("default", "POOL_EXHAUSTED"): 3,
        ("default", "ACQUIRE_TIMEOUT"): 1,
        ("_unknown", "POOL_NOT_FOUND"): 1,
        ("_unknown", "BAD_USER_INPUT"): 2,
    }


def test_the_acquire_wait_is_0_for_a_grant_and_the_time_queued_for_a_waiter(
    make_api: MakeApi,
) -> None:
    api = make_api(pool_size=1)
    granted(api.acquire(owner="first"))
    granted(served_by_a_free(api, owner="second"))

    found = scrape(api)
    assert found.value("objmgr_acquire_wait_seconds_count", pool="default") == 2
    # Only the waiter waited: it lands above the first bucket, the plain grant in it.
    assert found.value("objmgr_acquire_wait_seconds_bucket", pool="default", le="0.001") == 1
    assert found.value("objmgr_acquire_wait_seconds_sum", pool="default") > 0


def test_the_gauges_are_the_pools_as_graphql_reads_them(make_api: MakeApi) -> None:
    api = make_api(pool_size=5)
    granted(api.create_pool("full", 1))
    granted(api.create_pool("big", 2_000_000_000))
    for _ in range(2):
        granted(api.acquire())
    granted(api.acquire(pool="big"))
    granted(api.acquire(pool="full"))
    waiter = threading.Thread(target=lambda: api.acquire(pool="full", wait=10))
    waiter.start()
    try:
        wait_until(lambda: (api.stats("full") or {})["waiting"] == 1)
        found = scrape(api)
        assert found.value("objmgr_store_up") == 1
        expected = {}
        for name in ("big", "default", "full"):
            stats = api.stats(name)
            assert stats is not None
            expected[name] = {
                "size": stats["size"],
                "in_use": stats["inUse"],
                "available": stats["available"],
                "waiting": stats["waiting"],
                "cooling": 0,
            }
        assert found.pools() == expected
        assert expected["full"]["waiting"] == 1
    finally:
        granted(api.free(1, pool="full"))
        waiter.join(15)


def test_every_pool_is_reported_however_many_pages_they_take(
    make_api: MakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = make_api()
    names = [f"pool-{number}" for number in range(7)]
    for name in names:
        granted(api.create_pool(name, 1))
    monkeypatch.setattr(collector, "PAGE", 2)
    assert sorted(scrape(api).pools()) == sorted([*names, "default"])


def test_two_apps_in_one_process_count_apart(make_api: MakeApi) -> None:
    one, two = make_api(), make_api()
    granted(one.acquire())
    granted(one.acquire())
    granted(two.acquire())
    assert lease_counts(one)["granted"] == 2
    assert lease_counts(two)["granted"] == 1


def test_request_durations_are_labelled_by_operation(api: Api) -> None:
    api.data("{ pool { size } }")
    api.data("{ a: pool { size } b: pool { size } }")
    api.data("query { pools { name } ...more } fragment more on Query { pool { size } }")
    assert api.post("{ pool { size ").status_code == 400
    api.request("GET", "/healthz")
    api.request("GET", "/no-such-page")
    api.request("GET", "/metrics")

    found = scrape(api)
    counts = {
        labels["operation"]: found.value("objmgr_request_duration_seconds_count", **labels)
        for labels in found.series("objmgr_request_duration_seconds_count")
    }
    assert counts == {
        "pool": 2,
        # Several root fields are one label, whichever they are (the log line names them).
        "several": 1,
        "graphql": 1,
        "healthz": 1,
        "other": 1,
        "metrics": 1,
    }


def test_labels_stay_bounded_whatever_clients_send(api: Api) -> None:
    before = scrape(api)
    for _ in range(100):
        name = secrets.token_hex(8)
        refused(api.acquire(pool=name), "POOL_NOT_FOUND")
        refused(api.acquire(pool=f"{name} !"), "BAD_USER_INPUT")
        api.data(f"{{ alias{name}: pool {{ size }} }}")
    # Every combination of root fields is one label.
    for fields in ("pool version", "pools version", "pool pools", "pool pools version"):
        selected = (
            f"{field} {{ __typename }}" if field != "version" else field for field in fields.split()
        )
        api.data("{ " + " ".join(selected) + " }")

    after = scrape(api)
    refusals = after.series("objmgr_acquire_refused_total")
    assert sorted(labels["code"] for labels in refusals) == ["BAD_USER_INPUT", "POOL_NOT_FOUND"]
    assert {labels["pool"] for labels in refusals} == {"_unknown"}
    assert (
        after.value("objmgr_acquire_refused_total", pool="_unknown", code="POOL_NOT_FOUND") == 100
    )
    # Beside those two, the only new series are the durations of the operations sent.
    grown = [dict(labels) for _, labels in set(after.samples) - set(before.samples)]
    assert {labels.get("operation", labels.get("pool")) for labels in grown} <= {
        "_unknown",
        "acquireObject",
        "pool",
        "several",
        "metrics",
    }


SECRET = "metrics-secret-of-this-test"


def test_the_metrics_token_guards_the_scrape() -> None:
    guarded = Api(
        memory_app(
            metrics_token=hashlib.sha256(SECRET.encode()).digest(),
            tokens={"alice": hashlib.sha256(b"alice-secret-of-this-test").digest()},
        )
    )
    for headers in (
        {},
        {"Authorization": "Bearer not-the-secret"},
        {"Authorization": "Bearer alice-secret-of-this-test"},  # a GraphQL token is not it
        {"Authorization": f"Basic {SECRET}"},
    ):
        response = guarded.request("GET", "/metrics", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.get_json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "objmgr_" not in response.get_data(as_text=True)
    assert scrape(guarded, Authorization=f"Bearer {SECRET}").value("objmgr_store_up") == 1


def test_without_a_token_the_scrape_is_open(http: Api) -> None:
    assert scrape(http).value("objmgr_store_up") == 1
