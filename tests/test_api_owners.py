"""One owner's leases through the API, on every store: `leases(owner:)` across pools
in (pool, obj) order, and `pool { leases(owner:) }` within one."""

from __future__ import annotations

from .api_grants_support import needs, owner_leases, pool_leases, principals
from .api_support import Api, MakeApi, granted, refused


def owners(make_api: MakeApi) -> Api:
    api = make_api(pool_size=4)
    needs(api, "owner_leases")
    granted(api.create_pool("alpha", 3))
    granted(api.create_pool("zulu", 3))
    for pool, owner in (
        ("zulu", "ann"),
        ("default", "bob"),
        ("default", "ann"),
        ("alpha", "ann"),
        ("default", "ann"),
        ("alpha", "bob"),
    ):
        granted(api.acquire(pool=pool, owner=owner))
    return api


def test_leases_of_an_owner_come_from_every_pool_in_pool_then_obj_order(
    make_api: MakeApi,
) -> None:
    api = owners(make_api)

    leases = owner_leases(api, "ann")

    assert [(lease["pool"], lease["obj"]) for lease in leases] == [
        ("alpha", 1),
        ("default", 2),
        ("default", 3),
        ("zulu", 1),
    ]
    assert {lease["owner"] for lease in leases} == {"ann"}
    assert [(lease["pool"], lease["obj"]) for lease in owner_leases(api, "ann", first=2)] == [
        ("alpha", 1),
        ("default", 2),
    ]
    assert owner_leases(api, "nobody") == []
    assert owner_leases(api, "ann", first=0) == []


def test_freed_leases_leave_the_owners_list(make_api: MakeApi) -> None:
    api = owners(make_api)
    granted(api.free(2))

    assert [(lease["pool"], lease["obj"]) for lease in owner_leases(api, "ann")] == [
        ("alpha", 1),
        ("default", 3),
        ("zulu", 1),
    ]


def test_a_pools_leases_of_one_owner_page_in_obj_order(make_api: MakeApi) -> None:
    api = owners(make_api)

    assert [lease["obj"] for lease in pool_leases(api, owner="ann")] == [2, 3]
    assert [lease["obj"] for lease in pool_leases(api, owner="ann", after=2)] == [3]
    assert [lease["obj"] for lease in pool_leases(api, owner="ann", first=1)] == [2]
    assert [lease["obj"] for lease in pool_leases(api)] == [1, 2, 3]
    assert pool_leases(api, owner="nobody") == []


def test_bounds_of_first_and_owner_are_bad_user_input(make_api: MakeApi) -> None:
    api = owners(make_api)

    for query, variables in (
        ('query($f: Int) { leases(owner: "ann", first: $f) { obj } }', {"f": 1001}),
        ('query($f: Int) { leases(owner: "ann", first: $f) { obj } }', {"f": -1}),
        ("query($o: String!) { leases(owner: $o) { obj } }", {"o": "x" * 257}),
    ):
        data, error = api.field_error(query, variables)
        assert data is None
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


def test_with_auth_on_an_owner_is_its_principal(store_url: str) -> None:
    with principals(store_url) as users:
        needs(users["root"], "owner_leases")
        granted(users["alice"].acquire(owner="someone else"))  # the owner is the principal
        granted(users["bob"].acquire())

        assert [lease["obj"] for lease in owner_leases(users["bob"], "alice")] == [1]
        assert owner_leases(users["alice"], "someone else") == []
        assert [lease["obj"] for lease in pool_leases(users["alice"], owner="bob")] == [2]
        refused(users["alice"].free(2), "NOT_OWNER")
