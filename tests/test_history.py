"""The history checker of the fault tests, on histories made by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .history import History, LeaseRecord, Renewal, Revocation, Violation

T0 = 1_800_000_000.0


def granted(obj: int, token: int, ack: float, kw: dict[str, Any]) -> dict[str, Any]:
    """What every made-up lease holds: granted at T0 + ack (times in seconds after T0)."""
    return {
        "pool": kw.pop("pool", "default"),
        "obj": obj,
        "token": token,
        "client": kw.pop("client", f"c{token}"),
        "t_sent": T0 + kw.pop("sent", ack - 0.001),
        "t_ack": T0 + ack,
    }


def freed(
    obj: int, token: int, ack: float, free_sent: float, free_ack: float | None = None, **kw: Any
) -> LeaseRecord:
    """A lease granted at T0 + ack and freed at T0 + free_sent."""
    return LeaseRecord(
        **granted(obj, token, ack, kw),
        end="freed",
        t_free_sent=T0 + free_sent,
        t_free_ack=T0 + (free_ack if free_ack is not None else free_sent + 0.001),
        **kw,
    )


def expired(obj: int, token: int, ack: float, expires: float, **kw: Any) -> LeaseRecord:
    return LeaseRecord(
        **granted(obj, token, ack, kw),
        end=kw.pop("end", "expired"),
        granted_expires_at=T0 + expires,
        **kw,
    )


def kinds(violations: list[Violation]) -> list[str]:
    return [violation.kind for violation in violations]


def clean_history() -> History:
    return History(
        [
            freed(1, 1, ack=0.010, free_sent=0.050),
            # Granted right after token 1's free took effect; its answer came back
            # before token 1's free was acknowledged. A correct server does this.
            freed(1, 3, ack=0.052, free_sent=0.060, free_ack=0.070, sent=0.049),
            freed(2, 2, ack=0.020, free_sent=0.030),
            expired(2, 4, ack=0.055, expires=0.600),
            # Reclaimed when the server's clock reached the expiry, acknowledged soon after.
            freed(2, 5, ack=0.60002, free_sent=0.700, sent=0.500),
            # The answer to this free was lost: held, maybe, until its expiry.
            expired(3, 6, ack=0.75, expires=1.5, end="unknown", t_free_sent=T0 + 0.8, sent=0.72),
            freed(3, 7, ack=0.81, free_sent=0.9, sent=0.79),
            expired(
                4,
                8,
                ack=0.9,
                expires=1.2,
                renewals=(Renewal(T0 + 1.0, T0 + 2.0),),
                refused_at=T0 + 2.1,
                sent=0.85,
            ),
            freed(4, 9, ack=2.0001, free_sent=2.2, sent=1.5),
            freed(1, 1, ack=0.5, free_sent=0.6, pool="other", sent=0.4),
        ]
    )


def test_a_clean_history_passes() -> None:
    assert clean_history().check() == []


def test_an_empty_history_passes() -> None:
    assert History().check() == []


def test_two_holders_at_once_are_caught() -> None:
    history = clean_history()
    # Object 1 granted again while token 3's holder had not sent its free yet.
    history.add(freed(1, 10, ack=0.055, free_sent=0.058, sent=0.054, client="intruder"))
    violations = history.check()
    assert "overlap" in kinds(violations)
    overlap = next(v for v in violations if v.kind == "overlap")
    assert {record.token for record in overlap.records} == {3, 10}
    assert "object 1" in overlap.detail
    assert "token 10" in history.report(violations)


def test_a_grant_before_the_expiry_is_an_overlap() -> None:
    history = History(
        [
            expired(1, 1, ack=0.0, expires=0.5),
            freed(1, 2, ack=0.49, free_sent=0.6, sent=0.3),
        ]
    )
    assert kinds(history.check()) == ["overlap"]


def test_a_renewed_lease_holds_until_its_new_expiry() -> None:
    renewed = expired(1, 1, ack=0.0, expires=0.5, renewals=(Renewal(T0 + 0.4, T0 + 1.5),))
    assert kinds(History([renewed, freed(1, 2, ack=1.0, free_sent=1.1)]).check()) == ["overlap"]
    assert History([renewed, freed(1, 2, ack=1.50002, free_sent=1.6)]).check() == []


def test_a_lost_free_holds_until_the_expiry_or_the_free() -> None:
    unknown = expired(1, 1, ack=0.0, expires=1.0, end="unknown", t_free_sent=T0 + 0.3)
    assert History([unknown, freed(1, 2, ack=0.31, free_sent=0.4)]).check() == []
    assert kinds(History([unknown, freed(1, 2, ack=0.29, free_sent=0.4)]).check()) == ["overlap"]


def test_a_lost_renew_may_have_shortened_the_lease() -> None:
    # A renew sets the expiry to now + ttl: one sent at 0.2 with a ttl of 0.4
    # whose answer was lost may have moved an expiry of 1.0 back to 0.6, never
    # before it.
    unknown = expired(1, 1, ack=0.0, expires=1.0, end="unknown", lost_renewal_floor=T0 + 0.6)
    assert unknown.t_end == T0 + 0.6
    assert History([unknown, freed(1, 2, ack=0.61, free_sent=0.7)]).check() == []
    assert kinds(History([unknown, freed(1, 2, ack=0.59, free_sent=0.7)]).check()) == ["overlap"]
    assert "lost renew" in unknown.describe()


def test_a_lease_held_without_ttl_never_ends() -> None:
    held = LeaseRecord("default", 1, 1, "c1", T0, T0 + 0.01, "held")
    assert held.t_end is None
    assert kinds(History([held, freed(1, 2, ack=100.0, free_sent=101.0)]).check()) == ["overlap"]


def test_a_token_granted_twice_is_caught() -> None:
    history = clean_history()
    history.add(freed(7, 5, ack=3.0, free_sent=3.1, sent=0.55, client="twin"))
    violations = history.check()
    assert kinds(violations) == ["duplicate-token"]
    assert [record.obj for record in violations[0].records] == [2, 7]


def test_the_same_token_in_two_pools_is_no_duplicate() -> None:
    history = History(
        [freed(1, 1, ack=0.1, free_sent=0.2), freed(1, 1, ack=0.1, free_sent=0.2, pool="b")]
    )
    assert history.check() == []


def test_a_decreasing_token_is_caught() -> None:
    history = clean_history()
    # Requested after token 9 was acknowledged, granted with a lower token.
    history.add(freed(5, 4, ack=3.0, free_sent=3.1, sent=2.5))
    violations = history.check()
    assert "token-order" in kinds(violations)
    order = next(v for v in violations if v.kind == "token-order")
    assert [record.token for record in order.records] == [9, 4]


def test_a_decreasing_token_on_one_object_is_caught() -> None:
    history = History(
        [
            freed(1, 5, ack=0.1, free_sent=0.2, client="a"),
            freed(1, 3, ack=0.4, free_sent=0.5, sent=0.3, client="b"),
        ]
    )
    assert kinds(history.check()) == ["token-order"]


def test_concurrent_acquires_may_be_answered_in_any_order() -> None:
    # Both were in flight together: the server may have granted either first.
    history = History(
        [
            freed(1, 2, ack=0.10, free_sent=0.2, sent=0.05, client="a"),
            freed(2, 1, ack=0.12, free_sent=0.2, sent=0.06, client="b"),
        ]
    )
    assert history.check() == []


def test_a_lease_refused_before_its_expiry_was_lost() -> None:
    history = History([expired(1, 1, ack=0.0, expires=1.0, refused_at=T0 + 0.5)])
    assert kinds(history.check()) == ["lost-lease"]
    assert History([expired(1, 1, ack=0.0, expires=1.0, refused_at=T0 + 1.01)]).check() == []


def test_a_free_or_renew_after_the_expiry_must_not_succeed() -> None:
    late_free = freed(1, 1, ack=0.0, free_sent=1.2, granted_expires_at=T0 + 1.0)
    late_renew = expired(1, 2, ack=2.0, expires=2.5, renewals=(Renewal(T0 + 2.6, T0 + 3.6),))
    history = History([late_free, late_renew])
    assert kinds(history.check()) == ["expired-accepted", "expired-accepted"]


def test_a_history_survives_json(tmp_path: Path) -> None:
    history = clean_history()
    history.count("acquire:ok")
    history.count("acquire:unknown")
    history.dump(tmp_path / "history.json")
    again = History.load(tmp_path / "history.json")
    assert again == history
    assert again.outcomes["acquire:unknown"] == 1


def test_a_listing_must_show_every_lease_certainly_held() -> None:
    history = History(
        [
            expired(1, 1, ack=0.0, expires=5.0),
            freed(2, 2, ack=0.1, free_sent=3.0),
            freed(3, 3, ack=0.2, free_sent=0.5, free_ack=0.6),
            # Its free's answer was lost before the listing: maybe freed, maybe not.
            expired(4, 4, ack=0.3, expires=5.0, end="unknown", t_free_sent=T0 + 0.9),
        ]
    )
    sent, ack = T0 + 1.0, T0 + 1.01
    assert history.check_snapshot("default", [(1, 1), (2, 2)], sent, ack) == []
    assert history.check_snapshot("default", [(1, 1), (2, 2), (4, 4)], sent, ack) == []
    assert history.valid_through("default", sent, ack) == history.records[:2]

    missing = history.check_snapshot("default", [(1, 1)], sent, ack)
    assert kinds(missing) == ["lost-lease"]
    assert missing[0].records[0].obj == 2
    assert "no lease" in missing[0].detail
    replaced = history.check_snapshot("default", [(1, 1), (2, 9)], sent, ack)
    assert kinds(replaced) == ["lost-lease"]
    assert "token 9" in replaced[0].detail


def test_a_listing_must_not_show_a_lease_certainly_over() -> None:
    history = History([freed(3, 3, ack=0.2, free_sent=0.5, free_ack=0.6)])
    assert kinds(history.check_snapshot("default", [(3, 3)], T0 + 1.0, T0 + 1.01)) == [
        "ended-lease-listed"
    ]
    # Listed by a query sent while the free was in flight: it may have run first.
    assert history.check_snapshot("default", [(3, 3)], T0 + 0.55, T0 + 0.7) == []
    # Leases of other pools and leases nobody heard of (a lost acquire) are no concern.
    assert history.check_snapshot("other", [(3, 3)], T0 + 1.0, T0 + 1.01) == []
    assert history.check_snapshot("default", [(5, 17)], T0 + 1.0, T0 + 1.01) == []


# issue 12: sets, revocations, maxPerOwner, the queue ---------------------------
def a_set(
    objs: list[int], first_token: int, ack: float, free_sent: float, **kw: Any
) -> list[LeaseRecord]:
    """The leases of one acquireObjects, sharing its times, freed together."""
    set_id = kw.pop("set_id", f"s{first_token}")
    return [
        freed(
            obj,
            first_token + index,
            ack=ack,
            free_sent=free_sent,
            client=kw.get("client", set_id),
            set_id=set_id,
            set_size=kw.get("set_size", len(objs)),
            contiguous=kw.get("contiguous", False),
            sent=kw.get("sent", ack - 0.001),
        )
        for index, obj in enumerate(objs)
    ]


def test_a_set_shares_its_acquire_and_passes() -> None:
    history = History(
        [
            *a_set([1, 2, 3], 1, ack=0.01, free_sent=0.1, contiguous=True),
            *a_set([5, 4], 4, ack=0.02, free_sent=0.1),
            freed(1, 6, ack=0.12, free_sent=0.2, sent=0.11),
        ]
    )
    assert history.check() == []


def test_a_set_not_contiguous_or_not_whole_is_caught() -> None:
    gap = History(a_set([1, 2, 4], 1, ack=0.01, free_sent=0.1, contiguous=True))
    assert kinds(gap.check()) == ["broken-set"]
    short = History(a_set([1, 2], 1, ack=0.01, free_sent=0.1, set_size=3))
    assert kinds(short.check()) == ["broken-set"]
    # Two leases of one set on one object are two holders at once as well.
    twice = History(a_set([2, 2], 1, ack=0.01, free_sent=0.1))
    assert sorted(kinds(twice.check())) == ["broken-set", "overlap"]


def test_a_set_overlapping_a_held_object_is_caught() -> None:
    history = History(
        [
            freed(2, 1, ack=0.01, free_sent=0.5),
            *a_set([1, 2, 3], 2, ack=0.1, free_sent=0.2, sent=0.05),
        ]
    )
    assert kinds(history.check()) == ["overlap"]


def revoked_lease(**kw: Any) -> LeaseRecord:
    """A lease of object 1 that its holder learnt was gone at T0 + 0.6."""
    return expired(1, 1, ack=0.0, expires=5.0, refused_at=T0 + 0.6, **kw)


def test_a_revoked_lease_ends_at_its_revocation() -> None:
    revoked = Revocation("default", 1, 1, t_sent=T0 + 0.4, t_ack=T0 + 0.5)
    # Without the revocation, the refusal before the expiry is a lost lease.
    assert kinds(History([revoked_lease()]).check()) == ["lost-lease"]
    history = History(
        [revoked_lease(), freed(1, 2, ack=0.45, free_sent=0.7, sent=0.41)],
        revocations=[revoked],
    )
    assert history.check() == []
    # Granted again before the revoke was even sent: two holders.
    early = History(
        [revoked_lease(), freed(1, 2, ack=0.3, free_sent=0.7, sent=0.2)],
        revocations=[revoked],
    )
    assert kinds(early.check()) == ["overlap"]
    # The holder was refused before the revoke left: the lease was lost.
    refused_early = History(
        [expired(1, 1, ack=0.0, expires=5.0, refused_at=T0 + 0.3)], revocations=[revoked]
    )
    assert kinds(refused_early.check()) == ["lost-lease"]


def test_a_revoked_lease_freed_or_renewed_later_is_caught() -> None:
    revoked = Revocation("default", 1, 1, t_sent=T0 + 0.4, t_ack=T0 + 0.5)
    both = History([freed(1, 1, ack=0.0, free_sent=0.45)], revocations=[revoked])
    assert kinds(both.check()) == ["revoked-accepted"]
    renewed = expired(1, 1, ack=0.0, expires=5.0, renewals=(Renewal(T0 + 0.55, T0 + 5.5),))
    assert kinds(History([renewed], revocations=[revoked]).check()) == ["revoked-accepted"]
    # A renew sent while the revoke was in flight may have gone first.
    in_flight = expired(1, 1, ack=0.0, expires=5.0, renewals=(Renewal(T0 + 0.45, T0 + 5.4),))
    assert History([in_flight], revocations=[revoked]).check() == []


def test_revoking_a_lease_already_over_is_caught() -> None:
    over = expired(1, 1, ack=0.0, expires=0.3)
    late = Revocation("default", 1, 1, t_sent=T0 + 0.4, t_ack=T0 + 0.5)
    assert kinds(History([over], revocations=[late]).check()) == ["ended-lease-revoked"]
    # Revoked as it was running out: the store may have acted first.
    racing = Revocation("default", 1, 1, t_sent=T0 + 0.29, t_ack=T0 + 0.35)
    assert History([over], revocations=[racing]).check() == []


def test_an_owner_above_max_per_owner_is_caught() -> None:
    leases = [
        freed(1, 1, ack=0.1, free_sent=0.5, owner="a"),
        freed(2, 2, ack=0.2, free_sent=0.6, owner="a"),
        freed(4, 4, ack=0.3, free_sent=0.9, owner="b"),
        freed(5, 5, ack=0.3, free_sent=0.9),
        # Granted after the first was freed: two at once at most.
        freed(3, 6, ack=0.55, free_sent=0.9, sent=0.51, owner="a"),
    ]
    assert History(leases, max_per_owner={"default": 2}).check() == []
    third = freed(6, 3, ack=0.25, free_sent=0.4, sent=0.24, owner="a")
    over = History([*leases, third], max_per_owner={"default": 2})
    found = over.check()
    assert kinds(found) == ["over-quota"]
    assert {record.token for record in found[0].records} == {1, 2, 3}
    # A pool without the rule has no limit.
    assert History([*leases, third]).check() == []


def test_a_free_in_flight_is_not_over_quota() -> None:
    # The next lease's answer came back before the free's: a correct server.
    history = History(
        [
            freed(1, 1, ack=0.1, free_sent=0.5, free_ack=0.6, owner="a"),
            freed(2, 2, ack=0.55, free_sent=0.9, sent=0.51, owner="a"),
        ],
        max_per_owner={"default": 1},
    )
    assert history.check() == []


def test_a_big_waiter_is_served_before_later_small_ones() -> None:
    big = a_set([1, 2, 3], 10, ack=2.0, free_sent=2.5, sent=0.5, client="big")
    big = [replace(r, t_queued=T0 + 0.6, acquired_at=T0 + 1.99) for r in big]
    # Granted before the waiter queued, or asked after its grant: in order.
    before = freed(4, 9, ack=0.3, free_sent=1.9, acquired_at=T0 + 0.3, sent=0.2)
    after = freed(4, 13, ack=2.1, free_sent=2.2, acquired_at=T0 + 2.05, sent=1.995)
    history = History([*big, before, after])
    assert history.check() == []
    jumped = freed(5, 8, ack=1.0, free_sent=1.1, acquired_at=T0 + 0.95, sent=0.9)
    found = History([*big, before, jumped]).check()
    assert "queue-jump" in kinds(found)
    assert next(v for v in found if v.kind == "queue-jump").records[1].token == 8


def test_revocations_and_quotas_survive_json(tmp_path: Path) -> None:
    history = History(
        a_set([1, 2], 1, ack=0.01, free_sent=0.1, contiguous=True),
        revocations=[Revocation("default", 3, 7, t_sent=T0 + 1.0, t_ack=T0 + 1.1)],
        max_per_owner={"default": 3},
    )
    history.dump(tmp_path / "history.json")
    assert History.load(tmp_path / "history.json") == history
