"""The read fields: `pool`, `pools`, `lease` and `version`.

What each answers, its defaults and paging, and null (not an error) for what
does not exist.
"""

from __future__ import annotations

import re

import pytest
from objmgr_client.operations import (
    LEASE,
    LEASE_FIELDS,
    POOL_FIELDS,
)

from app.version import __version__

from .api_support import (
    NO_RULES,
    Api,
    MakeApi,
    granted,
)


def test_pool_answers_every_field(api: Api) -> None:
    granted(api.acquire(owner="ann", label="job-1", ttl=60))
    granted(api.acquire(owner="bob"))

    pool = api.data(f'{{ pool(name: "default") {{ {POOL_FIELDS} leases {{ {LEASE_FIELDS} }} }} }}')[
        "pool"
    ]

    assert {key: value for key, value in pool.items() if key != "leases"} == {
        "name": "default",
        "size": 3,
        "available": 1,
        "inUse": 2,
        "waiting": 0,
        **NO_RULES,
    }
    assert [(lease["obj"], lease["owner"], lease["label"]) for lease in pool["leases"]] == [
        (1, "ann", "job-1"),
        (2, "bob", None),
    ]
    assert all(lease["pool"] == "default" for lease in pool["leases"])
    assert pool["leases"][0]["expiresAt"] is not None
    assert pool["leases"][1]["expiresAt"] is None


def test_pool_name_defaults_to_default(api: Api) -> None:
    assert api.data("{ pool { name size } }") == {"pool": {"name": "default", "size": 3}}


def test_pool_that_does_not_exist_is_null_without_errors(api: Api) -> None:
    assert api.data('{ pool(name: "nope") { name } }') == {"pool": None}


def test_pool_with_a_malformed_name_is_bad_user_input(api: Api) -> None:
    data, error = api.field_error('{ pool(name: "no spaces allowed") { name } }')

    assert data == {"pool": None}
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["pool"]
    assert "pool name" in error["message"]


def test_pool_leases_pages_in_obj_order_after_a_cursor(make_api: MakeApi) -> None:
    api = make_api(pool_size=5)
    for _ in range(5):
        granted(api.acquire())
    api.free(3)

    def page(arguments: str) -> list[int]:
        pool = api.data(f"{{ pool {{ leases{arguments} {{ obj }} }} }}")["pool"]
        return [lease["obj"] for lease in pool["leases"]]

    assert page("") == [1, 2, 4, 5]
    assert page("(first: 2)") == [1, 2]
    assert page("(first: 2, after: 2)") == [4, 5]
    assert page("(after: 4)") == [5]
    assert page("(after: 5)") == []
    assert page("(first: 0)") == []
    assert page("(first: 1000)") == [1, 2, 4, 5]


def test_pool_leases_gives_100_leases_when_first_is_not_given(api: Api) -> None:
    granted(api.create_pool("big", 150))
    # At most 20 root fields per operation.
    for start in range(0, 101, 20):
        count = min(20, 101 - start)
        acquires = " ".join(f'a{i}: acquireObject(pool: "big") {{ success }}' for i in range(count))
        results = api.data(f"mutation {{ {acquires} }}")
        assert all(result["success"] for result in results.values())

    def objs(arguments: str) -> list[int]:
        query = f'{{ pool(name: "big") {{ leases{arguments} {{ obj }} }} }}'
        return [lease["obj"] for lease in api.data(query)["pool"]["leases"]]

    assert objs("") == list(range(1, 101))
    assert objs("(after: 100)") == [101]


@pytest.mark.parametrize(
    ("arguments", "named"),
    [("(first: 1001)", "first"), ("(first: -1)", "first"), ("(after: -1)", "after")],
)
def test_pool_leases_out_of_bounds_paging_is_bad_user_input(
    api: Api, arguments: str, named: str
) -> None:
    granted(api.acquire())

    data, error = api.field_error(f"{{ pool {{ name leases{arguments} {{ obj }} }} }}")

    # leases is non-null, so its failure nulls the pool around it.
    assert data == {"pool": None}
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["path"] == ["pool", "leases"]
    assert named in error["message"]


def test_pools_lists_every_pool_with_its_counters(api: Api) -> None:
    granted(api.create_pool("alpha", 2))
    granted(api.acquire(pool="alpha"))
    granted(api.acquire())

    pools = api.data(f"{{ pools {{ {POOL_FIELDS} }} }}")["pools"]

    assert sorted(pools, key=lambda pool: pool["name"]) == [
        {"name": "alpha", "size": 2, "available": 1, "inUse": 1, "waiting": 0, **NO_RULES},
        {"name": "default", "size": 3, "available": 2, "inUse": 1, "waiting": 0, **NO_RULES},
    ]


def test_pools_after_deleting_every_pool_is_an_empty_list(api: Api) -> None:
    granted(api.delete_pool("default"))

    assert api.data("{ pools { name } }") == {"pools": []}


def test_lease_of_a_held_object_answers_every_field(api: Api) -> None:
    acquired = granted(api.acquire(owner="ann", label="nightly build", ttl=120))["lease"]

    lease = api.lease(1)

    assert lease == acquired
    assert lease is not None
    assert (lease["pool"], lease["obj"], lease["owner"], lease["label"]) == (
        "default",
        1,
        "ann",
        "nightly build",
    )


def test_lease_of_a_free_object_is_null_without_errors(api: Api) -> None:
    granted(api.acquire())

    assert api.data("{ lease(obj: 2) { obj } }") == {"lease": None}
    assert api.data("{ lease(obj: 3) { obj } }") == {"lease": None}


def test_lease_pool_defaults_to_default_and_names_other_pools(api: Api) -> None:
    granted(api.create_pool("other", 2))
    granted(api.acquire(pool="other", label="in other"))

    assert api.data("{ lease(obj: 1) { obj } }") == {"lease": None}
    assert api.data('{ lease(obj: 1, pool: "other") { pool label } }') == {
        "lease": {"pool": "other", "label": "in other"}
    }


@pytest.mark.parametrize("obj", [0, -1, 4, 2147483647])
def test_lease_of_an_object_outside_the_pool_is_out_of_range(api: Api, obj: int) -> None:
    data, error = api.field_error(LEASE, {"obj": obj})

    assert data == {"lease": None}
    assert error["extensions"]["code"] == "OUT_OF_RANGE"
    assert error["path"] == ["lease"]
    assert str(obj) in error["message"]


def test_lease_in_a_pool_that_does_not_exist_is_pool_not_found(api: Api) -> None:
    data, error = api.field_error('{ lease(obj: 1, pool: "nope") { obj } }')

    assert data == {"lease": None}
    assert error["extensions"]["code"] == "POOL_NOT_FOUND"
    assert "nope" in error["message"]


def test_version_is_the_package_version(api: Api) -> None:
    assert api.data("{ version }") == {"version": __version__}
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", __version__)


def test_fields_of_one_query_are_answered_together(api: Api) -> None:
    data = api.data(
        '{ version p: pool { inUse } l: lease(obj: 1) { obj } n: pool(name: "x") { size } }'
    )

    assert data == {"version": __version__, "p": {"inUse": 0}, "l": None, "n": None}
