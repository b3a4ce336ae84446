"""A pool's policy through the API, on every store: `createPool(policy:)`,
`setPoolPolicy`, `Pool.policy`, and the rules it sets (TTLs, quota, cooling,
reuse order), each journaled as POLICY_CHANGED; admins only."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .api_grants_support import (
    acquire_many,
    create_pool,
    events,
    last_seq,
    needs,
    principals,
    revoke,
    set_policy,
)
from .api_support import NO_RULES, Api, MakeApi, granted, refused, snapshot
from .metrics_support import Scrape

EVERY_RULE = {
    "defaultTtl": 30.0,
    "maxTtl": 60.0,
    "maxPerOwner": 2,
    "reuseDelay": 3600.0,
    "reuseFirst": True,
    "description": "GPUs of rack 4",
}


def with_policies(make_api: MakeApi, pool_size: int = 3) -> Api:
    api = make_api(pool_size=pool_size)
    needs(api, "set_policy", "grant")
    return api


def policy_of(api: Api, pool: str) -> dict[str, Any]:
    stats = api.stats(pool)
    assert stats is not None
    policy: dict[str, Any] = stats["policy"]
    return policy


# --- createPool(policy:), setPoolPolicy, Pool.policy -------------------------------------


def test_create_pool_with_a_policy_answers_it_and_journals_it_after_the_creation(
    make_api: MakeApi,
) -> None:
    api = with_policies(make_api)

    payload = granted(create_pool(api, "gpu", 4, EVERY_RULE))

    assert payload["pool"]["policy"] == EVERY_RULE
    assert policy_of(api, "gpu") == EVERY_RULE
    kinds = [(event["kind"], event["reason"]) for event in events(api, "gpu")]
    assert [kind for kind, _ in kinds] == ["POOL_CREATED", "POLICY_CHANGED"]
    assert json.loads(kinds[1][1]) == {
        "defaultTtl": 30,
        "maxTtl": 60,
        "maxPerOwner": 2,
        "reuseDelay": 3600,
        "reuseFirst": True,
        "description": "GPUs of rack 4",
    }


def test_a_pool_without_a_policy_has_every_rule_off_and_no_policy_event(
    make_api: MakeApi,
) -> None:
    api = with_policies(make_api)

    granted(create_pool(api, "plain", 2, None))

    assert policy_of(api, "plain") == NO_RULES["policy"]
    assert [event["kind"] for event in events(api, "plain")] == ["POOL_CREATED"]


def test_set_pool_policy_replaces_the_whole_policy(make_api: MakeApi) -> None:
    api = with_policies(make_api)
    granted(set_policy(api, "default", {"maxTtl": 60, "description": "first"}))
    seq = last_seq(api)

    payload = granted(set_policy(api, "default", {"maxPerOwner": 1}))

    expected = {**NO_RULES["policy"], "maxPerOwner": 1}
    assert payload["pool"]["policy"] == expected
    assert policy_of(api, "default") == expected
    (event,) = events(api, after=seq)
    assert (event["kind"], json.loads(event["reason"])) == ("POLICY_CHANGED", {"maxPerOwner": 1})
    # An empty policy turns every rule off.
    granted(set_policy(api, "default", {}))
    assert policy_of(api, "default") == NO_RULES["policy"]


@pytest.mark.parametrize(
    "policy",
    [
        {"maxPerOwner": 0},
        {"maxTtl": 0},
        {"defaultTtl": -1},
        {"defaultTtl": 61, "maxTtl": 60},
        {"reuseDelay": -1},
        {"maxTtl": 10 * 365 * 24 * 3600},
        {"description": "x" * 1025},
    ],
    ids=[
        "quota-0",
        "max-ttl-0",
        "default-ttl-negative",
        "default-above-max",
        "delay-neg",
        "max-ttl-ten-years",
        "description-too-long",
    ],
)
def test_a_policy_value_out_of_bounds_is_bad_user_input_and_changes_nothing(
    make_api: MakeApi, policy: dict[str, Any]
) -> None:
    api = with_policies(make_api)
    granted(set_policy(api, "default", {"description": "kept"}))
    before, seq = snapshot(api), last_seq(api)

    refused(set_policy(api, "default", policy), "BAD_USER_INPUT")
    payload = create_pool(api, "refused", 3, policy)
    refused(payload, "BAD_USER_INPUT")

    assert payload["pool"] is None
    assert api.stats("refused") is None
    assert snapshot(api) == before
    assert last_seq(api) == seq


def test_set_pool_policy_of_no_such_pool_is_pool_not_found(make_api: MakeApi) -> None:
    api = with_policies(make_api)

    refused(set_policy(api, "nope", {"maxTtl": 5}), "POOL_NOT_FOUND")


def test_policies_are_for_admins_only(store_url: str) -> None:
    with principals(store_url) as users:
        needs(users["root"], "set_policy")
        before = snapshot(users["root"])

        refused(set_policy(users["alice"], "default", {"maxTtl": 5}), "FORBIDDEN")
        refused(create_pool(users["alice"], "mine", 2, {"maxTtl": 5}), "FORBIDDEN")
        # Refused for the role before any value is looked at.
        refused(set_policy(users["bob"], "default", {"maxTtl": -5}), "FORBIDDEN")

        assert snapshot(users["root"]) == before
        payload = granted(set_policy(users["root"], "default", {"maxTtl": 5}))
        assert payload["pool"]["policy"]["maxTtl"] == 5.0
        (event,) = [e for e in events(users["root"]) if e["kind"] == "POLICY_CHANGED"]
        assert event["principal"] == "root"


# --- the rules ---------------------------------------------------------------------------


def test_default_ttl_and_max_ttl_shape_each_grant_and_renewal(make_api: MakeApi) -> None:
    api = with_policies(make_api, pool_size=5)
    granted(set_policy(api, "default", {"defaultTtl": 30, "maxTtl": 60}))

    defaulted = granted(api.acquire())["lease"]
    assert defaulted["ttl"] == 30.0 and defaulted["expiresAt"] is not None
    assert granted(api.acquire(ttl=45))["lease"]["ttl"] == 45.0
    before = snapshot(api)
    assert "maxTtl" in refused(api.acquire(ttl=61), "BAD_USER_INPUT")
    refused(acquire_many(api, 2, ttl=61), "BAD_USER_INPUT")
    refused(api.renew(defaulted["obj"], defaulted["token"], ttl=61), "BAD_USER_INPUT")
    assert snapshot(api) == before

    granted(set_policy(api, "default", {"maxTtl": 60}))
    assert granted(api.acquire())["lease"]["ttl"] == 60.0  # no default: the cap


def test_max_per_owner_is_quota_exceeded_at_once_even_with_wait(make_api: MakeApi) -> None:
    api = with_policies(make_api, pool_size=5)
    granted(set_policy(api, "default", {"maxPerOwner": 2}))
    granted(api.acquire(owner="ann"))
    before = snapshot(api)

    refused(acquire_many(api, 2, owner="ann", wait=10), "QUOTA_EXCEEDED")
    refused(acquire_many(api, 3, owner="bob", wait=10), "QUOTA_EXCEEDED")

    assert snapshot(api) == before
    granted(api.acquire(owner="ann"))
    refused(api.acquire(owner="ann", wait=10), "QUOTA_EXCEEDED")
    granted(acquire_many(api, 2, owner="bob"))
    granted(api.acquire())  # no owner, no quota
    scrape = Scrape(api.request("GET", "/metrics").get_data(as_text=True))
    refusals = scrape.value("objmgr_acquire_refused_total", pool="default", code="QUOTA_EXCEEDED")
    assert refusals == 3  # the code shows the pool exists: counted under its name


def test_reuse_delay_cools_a_revoked_object(make_api: MakeApi) -> None:
    api = with_policies(make_api)
    needs(api, "revoke")
    granted(set_policy(api, "default", {"reuseDelay": 3600}))
    granted(api.acquire())  # obj 1
    granted(api.acquire())  # obj 2
    granted(api.free(2))  # a holder's free never cools

    granted(revoke(api, objs=[1], reason="cool it"))

    stats = api.stats()
    assert stats is not None
    assert (stats["available"], stats["inUse"], stats["cooling"]) == (2, 0, 1)
    assert "cooling" in refused(api.acquire(obj=1), "OBJECT_HELD")
    assert {granted(api.acquire())["lease"]["obj"] for _ in range(2)} == {2, 3}
    refused(api.acquire(), "POOL_EXHAUSTED")
    scrape = Scrape(api.request("GET", "/metrics").get_data(as_text=True))
    assert scrape.value("objmgr_pool_cooling", pool="default") == 1


def test_reuse_first_hands_out_freed_objects_before_fresh_ones(make_api: MakeApi) -> None:
    api = with_policies(make_api, pool_size=10)
    granted(create_pool(api, "reuse", 10, {"reuseFirst": True}))
    for _ in range(3):
        granted(api.acquire(pool="reuse"))
    granted(api.free(2, pool="reuse"))
    granted(api.free(1, pool="reuse"))

    taken = [granted(api.acquire(pool="reuse"))["lease"]["obj"] for _ in range(3)]

    assert taken == [2, 1, 4]
