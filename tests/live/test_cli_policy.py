"""`objmgr acquire --count/--contiguous/--obj`, `objmgr policy`, `objmgr revoke` and
`objmgr leases --owner` against a real server: output, refusals and exit statuses."""

from __future__ import annotations

import itertools

import pytest

from .cli_runner import Cli
from .support import LiveServer

pytestmark = pytest.mark.live

_names = itertools.count()


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli(server.base_url)


def _pool(cli: Cli, size: int = 10, *policy: str) -> str:
    name = f"cli-policy-{next(_names)}"
    cli.ok("create-pool", name, str(size), *policy)
    return name


def test_acquire_several_at_once_contiguous_and_a_named_object(cli: Cli) -> None:
    pool = _pool(cli)
    cli.ok("acquire", "--pool", pool, "--obj", "2")
    text = cli.ok("acquire", "--pool", pool, "--count", "3", "--contiguous", "--owner", "ci-7")
    assert text.splitlines()[0] == f"acquired objects 3, 4, 5 of pool {pool!r}"
    assert [line.split()[:2] for line in text.splitlines()[1:]] == [
        ["object", "3:"],
        ["object", "4:"],
        ["object", "5:"],
    ]

    granted = cli.json(
        "acquire", "--pool", pool, "--count", "2", "--request-id", "set-1", "--ttl", "60"
    )
    assert (granted["pool"], granted["replayed"]) == (pool, False)
    assert [lease["obj"] for lease in granted["leases"]] == [1, 6], "what two acquires take"
    tokens = [lease["token"] for lease in granted["leases"]]
    assert tokens == sorted(set(tokens))
    assert {(lease["ttl"], lease["requestId"]) for lease in granted["leases"]} == {(60, "set-1")}
    again = cli.json("acquire", "--pool", pool, "--count", "2", "--request-id", "set-1")
    assert again == {**granted, "replayed": True}, "a repeat: the same set, replayed"
    assert "granted before" in cli.ok(
        "acquire", "--pool", pool, "--count", "2", "--request-id", "set-1"
    )

    named = cli.json("acquire", "--pool", pool, "--obj", "9")
    assert named["obj"] == 9
    assert cli.refused("acquire", "--pool", pool, "--obj", "9").startswith("OBJECT_HELD: ")
    assert cli.refused("acquire", "--pool", pool, "--obj", "11").startswith("OUT_OF_RANGE: ")
    # Free now: 7, 8, 10. Four all or none: nothing is taken.
    assert cli.refused("acquire", "--pool", pool, "--count", "4").startswith("POOL_EXHAUSTED: ")
    # 7 and 8 are a run of two, not of three: three in a row wait, and time out.
    waited = cli.refused("acquire", "--pool", pool, "--count", "3", "--contiguous", "--wait", "0.2")
    assert waited.startswith("ACQUIRE_TIMEOUT: ")
    assert cli.json("pool", pool)["available"] == 3
    assert cli.refused("acquire", "--count", "1001").startswith("BAD_USER_INPUT: ")


def test_acquire_usage_errors_exit_2(cli: Cli) -> None:
    assert "--obj names one object" in cli.refused(
        "acquire", "--obj", "1", "--count", "2", status=2
    )
    assert "--contiguous goes with --count" in cli.refused("acquire", "--contiguous", status=2)
    assert "x>=1" in cli.refused("acquire", "--count", "0", status=2)


def test_policy_shown_set_replaced_and_cleared(cli: Cli) -> None:
    pool = _pool(cli, 5, "--max-per-owner", "1", "--description", "build ports")
    shown = cli.ok("policy", "--pool", pool)
    assert shown.splitlines()[0] == f"policy of pool {pool!r}"
    assert "  max per owner: 1\n" in shown and "  description:   build ports\n" in shown
    assert "  max ttl:       -\n" in shown
    cli.ok("acquire", "--pool", pool, "--owner", "ci-7")
    assert cli.refused("acquire", "--pool", pool, "--owner", "ci-7").startswith("QUOTA_EXCEEDED: ")
    assert cli.json("acquire", "--pool", pool, "--owner", "ci-8")["obj"] == 2

    changed = cli.json(
        "policy", "--pool", pool, "--default-ttl", "30", "--max-ttl", "60", "--reuse-first"
    )
    assert changed == {
        "defaultTtl": 30,
        "maxTtl": 60,
        "maxPerOwner": None,
        "reuseDelay": None,
        "reuseFirst": True,
        "description": None,
    }, "the rules given replace the whole policy"
    assert cli.json("acquire", "--pool", pool, "--owner", "ci-7")["ttl"] == 30
    assert cli.refused("acquire", "--pool", pool, "--ttl", "120").startswith("BAD_USER_INPUT: ")
    assert cli.json("pool", pool)["policy"] == changed
    assert "  reuse first:   yes\n" in cli.ok("pool", pool)
    assert cli.refused("policy", "--pool", pool, "--max-ttl", "-1").startswith("BAD_USER_INPUT: ")
    assert "give it alone" in cli.refused(
        "policy", "--pool", pool, "--clear", "--reuse-first", status=2
    )

    cleared = cli.json("policy", "--pool", pool, "--clear")
    assert set(cleared.values()) == {None, False}
    assert cli.refused("policy", "--pool", "no-such-pool").startswith("POOL_NOT_FOUND: ")
    assert cli.refused("policy", "--pool", "no-such-pool", "--max-ttl", "5").startswith(
        "POOL_NOT_FOUND: "
    )


def test_revoke_by_owner_label_and_object_with_its_reason(cli: Cli) -> None:
    pool = _pool(cli, 10, "--reuse-delay", "3600")
    held = {
        "a1": cli.json("acquire", "--pool", pool, "--owner", "alice", "--label", "job 1"),
        "a2": cli.json("acquire", "--pool", pool, "--owner", "alice", "--label", "nightly 2"),
        "b1": cli.json("acquire", "--pool", pool, "--owner", "bob", "--label", "job 3"),
        "b2": cli.json("acquire", "--pool", pool, "--owner", "bob", "--label", "job 4"),
        "c1": cli.json("acquire", "--pool", pool, "--owner", "carol"),
    }
    assert "give --owner" in cli.refused("revoke", "--pool", pool, status=2)
    assert "without filters" in cli.refused(
        "revoke", "--pool", pool, "--all", "--owner", "bob", status=2
    )

    text = cli.ok("revoke", "--pool", pool, "--owner", "alice", "--reason", "job cancelled")
    assert text.splitlines()[0] == f"revoked 2 leases of pool {pool!r}"
    revoked = cli.json("revoke", "--pool", pool, "--label-prefix", "job ", "--obj", "4")
    assert [lease["obj"] for lease in revoked] == [held["b2"]["obj"]], "every filter given"
    assert cli.json("revoke", "--pool", pool, "--obj", "4") == [], "nothing left to match"

    # The revoked holder's free fails; the objects rest (reuse delay) before coming back.
    refused = cli.refused("free", str(held["a1"]["obj"]), "--pool", pool)
    assert refused.startswith(("NOT_ALLOCATED: ", "STALE_TOKEN: "))
    counts = cli.json("pool", pool)
    assert (counts["inUse"], counts["cooling"], counts["available"]) == (2, 3, 5)
    row = [line.split() for line in cli.ok("pools").splitlines() if line.startswith(pool + " ")]
    assert row == [[pool, "10", "2", "5", "0", "3"]]

    lines = cli.ok("events", "--pool", pool).splitlines()
    reasons = [line for line in lines if line.split()[2] == "REVOKED"]
    assert len(reasons) == 3
    assert sum('reason="job cancelled"' in line for line in reasons) == 2

    rest = cli.json("revoke", "--pool", pool, "--all")
    assert sorted(lease["owner"] for lease in rest) == ["bob", "carol"]
    assert cli.json("pool", pool)["inUse"] == 0


def test_leases_of_one_owner_in_every_pool_or_one(cli: Cli) -> None:
    owner = f"owner-{next(_names)}"
    first, second = _pool(cli, 3), _pool(cli, 3)
    cli.ok("acquire", "--pool", second, "--owner", owner, "--label", "two")
    cli.ok("acquire", "--pool", first, "--owner", owner)
    cli.ok("acquire", "--pool", first, "--owner", "someone else")
    cli.ok("acquire", "--pool", first, "--owner", owner)

    everywhere = cli.json("leases", "--owner", owner)
    by_pool_and_obj = sorted([(first, 1), (first, 3), (second, 1)])
    assert [(lease["pool"], lease["obj"]) for lease in everywhere] == by_pool_and_obj
    text = cli.ok("leases", "--owner", owner).splitlines()
    assert text[0] == f"3 leases held by {owner}"
    assert [line.split()[:3] for line in text[1:]] == [
        [name, "object", f"{obj}:"] for name, obj in by_pool_and_obj
    ]
    assert sum("label two" in line for line in text) == 1
    one_pool = cli.json("leases", "--owner", owner, "--pool", second)
    assert [lease["obj"] for lease in one_pool] == [1]
    assert cli.ok("leases", "--owner", "nobody") == "0 leases held by nobody\n"
    shown = cli.json("pool", first)
    assert len(shown["leases"]) == 3


def test_revoke_and_policy_are_for_admins(live_server: LiveServer) -> None:
    url = live_server.start(
        {"OBJMGR_TOKENS": "ops:ops-secret-0123,dev:dev-secret-0123", "OBJMGR_ADMINS": "ops"}
    )
    ops, dev = Cli(url, token="ops-secret-0123"), Cli(url, token="dev-secret-0123")
    pool = _pool(ops, 3)
    held = dev.json("acquire", "--pool", pool)
    assert dev.refused("revoke", "--pool", pool, "--all").startswith("FORBIDDEN: ")
    assert dev.refused("policy", "--pool", pool, "--max-ttl", "5").startswith("FORBIDDEN: ")
    assert dev.ok("policy", "--pool", pool).startswith(f"policy of pool {pool!r}")
    assert [lease["obj"] for lease in dev.json("leases", "--owner", "dev")] == [held["obj"]]
    revoked = ops.json("revoke", "--pool", pool, "--owner", "dev", "--reason", "maintenance")
    assert [lease["obj"] for lease in revoked] == [held["obj"]]
