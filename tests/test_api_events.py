"""`events(pool, after, first)`: the journal through the API, on every store.

What each store records is the contract suite's (tests/test_store_journal.py);
here, what a client reads: each field as the schema spells it, pages by
`after` and `first`, the bounds, the cost, GET, auth, and pools deleted or
never made.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

import pytest
from objmgr_client.operations import EVENT_FIELDS, EVENTS

from .api_support import Api, MakeApi, code_of, error_of, granted, refused
from .conditions import wait_until

ALL_FIELDS = f"{{ {EVENT_FIELDS} }}"
SECRETS = {"alice": "alice-s3cret-0123456789", "root": "root-r00t-0123456789"}


def events(api: Api, pool: str = "default", **arguments: Any) -> list[dict[str, Any]]:
    """The journal of `pool` as the client's `Events` operation reads it."""
    return api.data(EVENTS, {"pool": pool, **arguments})["events"]


def kinds(found: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in found]


def test_a_new_pool_starts_its_journal_with_its_creation(api: Api) -> None:
    (created,) = events(api)
    assert created == {
        "seq": created["seq"],
        "pool": "default",
        "kind": "POOL_CREATED",
        "at": created["at"],
        "obj": None,
        "token": None,
        "owner": None,
        "label": None,
        "principal": None,
        "reason": None,
        "size": 3,
        "expiresAt": None,
    }
    assert isinstance(created["seq"], int) and created["seq"] >= 1
    assert datetime.fromisoformat(created["at"]).utcoffset() is not None


def test_each_change_is_an_event_with_the_fields_it_carries(api: Api) -> None:
    granted(api.create_pool("ci", 2))
    lease = granted(api.acquire(pool="ci", owner="ci-7", label="job 42", ttl=60))["lease"]
    renewed = granted(api.renew(lease["obj"], lease["token"], pool="ci", ttl=120))["lease"]
    granted(api.free(lease["obj"], pool="ci", token=lease["token"]))
    granted(api.resize_pool("ci", 5))
    granted(api.delete_pool("ci"))

    found = events(api, "ci")

    assert kinds(found) == [
        "POOL_CREATED",
        "GRANTED",
        "RENEWED",
        "FREED",
        "POOL_RESIZED",
        "POOL_DELETED",
    ]
    created, grant, renewal, free, resize, delete = found
    assert [event["pool"] for event in found] == ["ci"] * 6
    assert (created["size"], resize["size"]) == (2, 5)
    for event in (grant, renewal, free):
        assert (event["obj"], event["token"], event["owner"], event["label"]) == (
            lease["obj"],
            lease["token"],
            "ci-7",
            "job 42",
        )
        assert event["size"] is None
    # The grant's time is the lease's; the renewal tells the new expiry, as the lease does.
    assert grant["at"] == lease["acquiredAt"]
    assert renewal["expiresAt"] == renewed["expiresAt"] != lease["expiresAt"]
    assert grant["expiresAt"] is None and free["expiresAt"] is None
    assert delete["reason"] is None, "nothing was held when it went"
    for event in (created, resize, delete):
        assert (event["obj"], event["token"], event["owner"], event["label"]) == (None,) * 4
    times = [datetime.fromisoformat(event["at"]) for event in found]
    assert times == sorted(times)


def test_seq_only_grows_and_after_reads_on_from_the_last_one_seen(api: Api) -> None:
    for _ in range(3):
        lease = granted(api.acquire())["lease"]
        granted(api.free(lease["obj"]))
    everything = events(api)
    seqs = [event["seq"] for event in everything]
    assert len(seqs) == 7 and seqs == sorted(set(seqs))

    assert events(api, after=seqs[2]) == everything[3:]
    assert events(api, after=seqs[-1]) == []
    assert events(api, first=2) == everything[:2]
    assert events(api, after=seqs[1], first=2) == everything[2:4]
    assert events(api, first=0) == []


def test_paging_by_the_last_seq_reads_every_event_once(api: Api) -> None:
    for _ in range(5):
        granted(api.free(granted(api.acquire())["lease"]["obj"]))
    pages: list[list[dict[str, Any]]] = []
    after = 0
    while not pages or pages[-1]:
        pages.append(events(api, after=after, first=3))
        after = pages[-1][-1]["seq"] if pages[-1] else after
    assert [len(page) for page in pages] == [3, 3, 3, 2, 0]
    assert [event for page in pages for event in page] == events(api)


def test_the_arguments_default_to_the_default_pool_from_the_start(api: Api) -> None:
    granted(api.acquire())
    assert api.data(f"{{ events {ALL_FIELDS} }}")["events"] == events(api)
    assert kinds(events(api)) == ["POOL_CREATED", "GRANTED"]


def test_an_expiry_is_recorded_at_the_time_the_lease_expired(api: Api) -> None:
    lease = granted(api.acquire(ttl=0.05))["lease"]
    wait_until(lambda: api.lease(lease["obj"]) is None, 10.0, "the lease to expire")
    # Its object is reclaimed, and the expiry recorded, before anything else of the pool changes.
    granted(api.acquire())

    found = events(api)
    assert kinds(found) == ["POOL_CREATED", "GRANTED", "EXPIRED", "GRANTED"]
    expired = found[2]
    assert expired["at"] == lease["expiresAt"]
    assert (expired["obj"], expired["token"], expired["principal"]) == (
        lease["obj"],
        lease["token"],
        None,
    )


def test_a_refused_change_or_a_repeated_acquire_records_nothing(api: Api) -> None:
    first = granted(api.acquire(request_id="job-42-try"))["lease"]
    before = events(api)

    refused(api.free(3), "NOT_ALLOCATED")
    refused(api.free(first["obj"], token=first["token"] + 1), "STALE_TOKEN")
    refused(api.create_pool("default", 3), "POOL_EXISTS")
    again = api.acquire(request_id="job-42-try")
    assert again["lease"]["token"] == first["token"]
    for _ in range(2):
        granted(api.acquire())
    refused(api.acquire(), "POOL_EXHAUSTED")

    assert kinds(events(api, after=before[-1]["seq"])) == ["GRANTED", "GRANTED"]


def test_a_pool_that_never_existed_has_no_events_and_is_no_error(api: Api) -> None:
    assert events(api, "never-made") == []


def test_a_deleted_pool_keeps_its_journal_and_a_new_one_of_its_name_goes_on(api: Api) -> None:
    granted(api.create_pool("ports", 3))
    granted(api.acquire(pool="ports"))
    granted(api.delete_pool("ports", force=True))

    kept = events(api, "ports")
    assert api.stats("ports") is None
    assert kinds(kept) == ["POOL_CREATED", "GRANTED", "POOL_DELETED"]
    assert kept[-1]["reason"] == "forced"

    granted(api.create_pool("ports", 7))
    again = events(api, "ports", after=kept[-1]["seq"])
    assert kinds(again) == ["POOL_CREATED"] and again[0]["size"] == 7
    assert again[0]["seq"] > kept[-1]["seq"]


def test_every_pool_has_a_journal_of_its_own(api: Api) -> None:
    granted(api.create_pool("a", 1))
    granted(api.create_pool("b", 1))
    granted(api.acquire(pool="b"))
    assert kinds(events(api, "a")) == ["POOL_CREATED"]
    assert kinds(events(api, "b")) == ["POOL_CREATED", "GRANTED"]
    assert {event["pool"] for event in events(api, "b")} == {"b"}


# A memory:// store is one process's: a second app has a store of its own.
@pytest.mark.parametrize("store_url", ["sqlite", "redis"], indirect=True)
def test_a_second_app_on_the_same_store_reads_the_same_journal(make_api: MakeApi) -> None:
    one, two = make_api(), make_api()
    granted(one.acquire(owner="from-one"))
    granted(two.acquire(owner="from-two"))

    assert events(one) == events(two)
    assert [event["owner"] for event in events(one)] == [None, "from-one", "from-two"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"first": 1001}, "first must be between 0 and 1000"),
        ({"first": -1}, "first must be between 0 and 1000"),
        ({"after": -1}, "after must be between 0 and"),
        ({"after": 2**63}, "after must be between 0 and"),
        ({"pool": "no spaces"}, "pool name"),
    ],
)
def test_values_out_of_bounds_are_bad_user_input(
    api: Api, arguments: dict[str, Any], message: str
) -> None:
    data, error = api.field_error(EVENTS, arguments)
    assert data is None
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert message in error["message"]


def test_after_is_a_big_int_and_refuses_what_is_not_an_integer(api: Api) -> None:
    assert events(api, after=2**40) == []
    response = api.post(EVENTS, {"after": "1"})
    assert response.status_code == 400 and code_of(response) == "BAD_USER_INPUT"


def test_a_get_reads_the_journal(api: Api) -> None:
    response = api.get("{ events(first: 5) { seq kind size } }")
    assert response.status_code == 200
    assert response.get_json() == {
        "data": {"events": [{"seq": events(api)[0]["seq"], "kind": "POOL_CREATED", "size": 3}]}
    }


def test_the_cost_is_first_times_the_selection(api: Api) -> None:
    one_page = f"events(first: 1000) {ALL_FIELDS}"  # 1 + 1000 x 12 fields
    four = "{ " + " ".join(f"p{n}: {one_page}" for n in range(4)) + " }"
    five = "{ " + " ".join(f"p{n}: {one_page}" for n in range(5)) + " }"

    assert set(api.data(four)) == {"p0", "p1", "p2", "p3"}
    response = api.post(five)
    assert response.status_code == 400 and code_of(response) == "QUERY_TOO_COMPLEX"
    assert "cost" in error_of(response)["message"]
    # Without `first`, a page counts for its default, 100.
    defaults = "{ " + " ".join(f"p{n}: events {ALL_FIELDS}" for n in range(5)) + " }"
    assert len(api.data(defaults)) == 5


def _digests() -> dict[str, bytes]:
    return {name: hashlib.sha256(secret.encode()).digest() for name, secret in SECRETS.items()}


def test_with_auth_on_anyone_authenticated_reads_any_journal_and_sees_who_did_what(
    make_api: MakeApi,
) -> None:
    api = make_api(tokens=_digests(), admins=frozenset({"root"}))
    root, alice = api.as_(SECRETS["root"]), api.as_(SECRETS["alice"])
    granted(root.create_pool("admins-only", 2))
    granted(alice.acquire(pool="admins-only", owner="not-me"))

    found = events(alice, "admins-only")

    assert events(root, "admins-only") == found
    assert [(event["kind"], event["principal"]) for event in found] == [
        ("POOL_CREATED", "root"),
        ("GRANTED", "alice"),
    ]
    assert found[1]["owner"] == "alice", "with auth on the owner is the principal"
    anonymous = api.post(EVENTS, {"pool": "admins-only"})
    assert anonymous.status_code == 401 and code_of(anonymous) == "UNAUTHENTICATED"
