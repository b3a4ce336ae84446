"""`revokeLeases` through the API, on every store: the filters, the payload, the
journal's REVOKED events with their reason, the holders' later free and renew,
waiters served, admins only, and values out of bounds that change nothing."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from app.logs.formatting import FIELDS

from .api_grants_support import (
    acquire_many,
    events,
    last_seq,
    needs,
    objs_of,
    principals,
    queued,
    revoke,
    set_policy,
)
from .api_support import Api, MakeApi, code_of, granted, refused, snapshot
from .metrics_support import Scrape


def revocable(make_api: MakeApi, pool_size: int = 6) -> Api:
    api = make_api(pool_size=pool_size)
    needs(api, "revoke")
    return api


def hold(api: Api, *holders: tuple[str, str | None]) -> list[dict[str, Any]]:
    """One lease per (owner, label), objects 1, 2, ... in that order."""
    return [granted(api.acquire(owner=owner, label=label))["lease"] for owner, label in holders]


HOLDERS = (("ann", "build-1"), ("bob", "build-2"), ("ann", "test-1"), ("bob", None))


def test_revoke_by_owner_ends_those_leases_in_object_order_and_journals_each(
    make_api: MakeApi,
) -> None:
    api = revocable(make_api)
    held = hold(api, *HOLDERS)
    seq = last_seq(api)

    payload = granted(revoke(api, owner="ann", reason="maintenance"))

    assert payload["revoked"] == [held[0], held[2]]
    assert api.held() == [2, 4]
    revoked = [event for event in events(api, after=seq) if event["kind"] == "REVOKED"]
    assert [(e["obj"], e["token"], e["owner"], e["reason"]) for e in revoked] == [
        (1, held[0]["token"], "ann", "maintenance"),
        (3, held[2]["token"], "ann", "maintenance"),
    ]
    assert {event["principal"] for event in revoked} == {None}  # auth off
    scrape = Scrape(api.request("GET", "/metrics").get_data(as_text=True))
    assert scrape.value("objmgr_leases_revoked_total", pool="default") == 2


def test_the_filters_combine_and_none_given_revokes_every_lease(make_api: MakeApi) -> None:
    api = revocable(make_api)
    hold(api, *HOLDERS)

    assert [lease["obj"] for lease in granted(revoke(api, label_prefix="build"))["revoked"]] == [
        1,
        2,
    ]
    assert granted(revoke(api, owner="ann", objs=[4]))["revoked"] == []
    assert [lease["obj"] for lease in granted(revoke(api, objs=[4, 5]))["revoked"]] == [4]
    assert [lease["obj"] for lease in granted(revoke(api))["revoked"]] == [3]
    assert api.held() == []
    assert granted(revoke(api))["revoked"] == []


def test_a_revoked_holders_free_and_renew_fail(make_api: MakeApi) -> None:
    api = revocable(make_api)
    (lease,) = hold(api, ("ann", None))
    granted(revoke(api, objs=[lease["obj"]]))

    refused(api.free(lease["obj"]), "NOT_ALLOCATED")
    refused(api.renew(lease["obj"], lease["token"]), "NOT_ALLOCATED")
    # Once the object is granted again, the old token is stale.
    again = granted(api.acquire(obj=lease["obj"]))["lease"]
    assert again["token"] > lease["token"]
    refused(api.free(lease["obj"], token=lease["token"]), "STALE_TOKEN")
    refused(api.renew(lease["obj"], lease["token"]), "STALE_TOKEN")


def test_a_revocation_serves_the_waiting_acquire(make_api: MakeApi) -> None:
    api = revocable(make_api, pool_size=1)
    hold(api, ("ann", None))
    waiter = queued(api, lambda: api.acquire(owner="bob", wait=10))

    granted(revoke(api, owner="ann"))

    lease = granted(waiter.answer())["lease"]
    assert (lease["obj"], lease["owner"]) == (1, "bob")


def test_revoke_of_no_such_pool_is_pool_not_found(make_api: MakeApi) -> None:
    api = revocable(make_api)

    payload = revoke(api, pool="nope")

    assert "nope" in refused(payload, "POOL_NOT_FOUND")
    assert payload["revoked"] == []


@pytest.mark.parametrize(
    "arguments",
    [
        {"reason": "x" * 257},
        {"label_prefix": "x" * 257},
        {"owner": "x" * 257},
        {"objs": list(range(1, 1002))},
        {"objs": [0]},
        {"pool": "not a pool name"},
    ],
    ids=["reason", "label-prefix", "owner", "objs-too-many", "obj-zero", "pool-name"],
)
def test_values_out_of_bounds_are_bad_user_input_and_revoke_nothing(
    make_api: MakeApi, arguments: dict[str, Any]
) -> None:
    api = revocable(make_api)
    hold(api, *HOLDERS)
    before, seq = snapshot(api), last_seq(api)

    payload = revoke(api, **{"pool": "default", **arguments})

    refused(payload, "BAD_USER_INPUT")
    assert payload["revoked"] == []
    assert snapshot(api) == before
    assert last_seq(api) == seq


def test_revoke_is_for_admins_only_and_journals_the_admin(store_url: str) -> None:
    with principals(store_url) as users:
        needs(users["root"], "revoke")
        alice_lease = granted(users["alice"].acquire())["lease"]
        before = snapshot(users["root"])

        # Not even one's own leases: revoking is an admin's act.
        refused(revoke(users["alice"], owner="alice"), "FORBIDDEN")
        refused(revoke(users["bob"]), "FORBIDDEN")
        assert snapshot(users["root"]) == before

        answer = granted(revoke(users["root"], owner="alice", reason="rotation"))
        assert answer["revoked"] == [alice_lease]
        (event,) = [e for e in events(users["root"]) if e["kind"] == "REVOKED"]
        assert (event["principal"], event["owner"], event["reason"]) == (
            "root",
            "alice",
            "rotation",
        )


def test_the_revoked_lists_cost_caps_what_an_operation_may_select(make_api: MakeApi) -> None:
    api = revocable(make_api)
    hold(api, *HOLDERS)
    # 1 + 1000 x 51 fields: above 50,000 only as costed at the 1000 leases it may list.
    fields = " ".join(f"f{index}: obj" for index in range(50))
    response = api.post(
        f'mutation {{ revokeLeases(pool: "default") {{ revoked {{ token {fields} }} }} }}'
    )

    assert response.status_code == 400
    assert code_of(response) == "QUERY_TOO_COMPLEX"
    assert len(api.held()) == len(HOLDERS)


def test_the_audit_lines_of_revoked_and_policy_changed_carry_reason_and_principal(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with principals(store_url) as users:
        needs(users["root"], "revoke", "set_policy")
        granted(users["alice"].acquire(label="job"))
        caplog.set_level(logging.INFO, logger="objmgr.events")

        granted(revoke(users["root"], label_prefix="job", reason="drain rack 4"))
        granted(set_policy(users["root"], "default", {"maxPerOwner": 3}))

        lines = [
            getattr(record, FIELDS)
            for record in caplog.records
            if record.name == "objmgr.events" and hasattr(record, FIELDS)
        ]
        by_kind = {line["kind"]: line for line in lines}
        assert by_kind["REVOKED"]["reason"] == "drain rack 4"
        assert by_kind["REVOKED"]["principal"] == "root"
        assert (by_kind["REVOKED"]["owner"], by_kind["REVOKED"]["obj"]) == ("alice", 1)
        assert by_kind["POLICY_CHANGED"]["reason"] == '{"maxPerOwner":3}'
        assert by_kind["POLICY_CHANGED"]["principal"] == "root"
        assert by_kind["REVOKED"]["request_id"] and by_kind["POLICY_CHANGED"]["request_id"]


def test_a_revocation_serves_a_waiter_for_several(make_api: MakeApi) -> None:
    api = revocable(make_api, pool_size=3)
    hold(api, ("ann", "a"), ("ann", "b"), ("bob", "c"))
    waiter = queued(api, lambda: acquire_many(api, 2, wait=10))

    granted(revoke(api, owner="ann"))

    assert objs_of(granted(waiter.answer())) == [1, 2]
