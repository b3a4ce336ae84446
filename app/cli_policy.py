"""The `objmgr` subcommands of pool policies, revocation and one owner's leases, and the
policy options `create-pool` shares with `policy`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click
from objmgr_client import Client, Lease, ObjmgrError, PoolPolicy

from .cli_support import Result, client_command

F = Callable[..., Any]

_POLICY_OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option(
        "--default-ttl",
        type=float,
        help="Seconds: the TTL of a grant that names none.",
    ),
    click.option(
        "--max-ttl",
        type=float,
        help="Seconds: no grant or renewal above it; no lease lives forever.",
    ),
    click.option(
        "--max-per-owner",
        type=int,
        help="Live leases one owner may hold in the pool (QUOTA_EXCEEDED beyond).",
    ),
    click.option(
        "--reuse-delay",
        type=float,
        help="Seconds an object rests (cooling) after its lease expired or was revoked.",
    ),
    click.option(
        "--reuse-first",
        is_flag=True,
        help="Hand out freed objects before never-used ones (storage bounded by the peak in use).",
    ),
    click.option("--description", help="Free text (at most 1024 characters)."),
)


def policy_options(function: F) -> F:
    """The policy's rules as options, given to the command as `policy_of`'s arguments."""
    for option in reversed(_POLICY_OPTIONS):
        function = option(function)
    return function


def policy_of(
    default_ttl: float | None,
    max_ttl: float | None,
    max_per_owner: int | None,
    reuse_delay: float | None,
    reuse_first: bool,
    description: str | None,
) -> PoolPolicy:
    return PoolPolicy(default_ttl, max_ttl, max_per_owner, reuse_delay, reuse_first, description)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:g} s"


def policy_text(policy: PoolPolicy) -> str:
    """The policy, a rule a line; `-` for no rule."""
    rows = [
        ("default ttl", _seconds(policy.default_ttl)),
        ("max ttl", _seconds(policy.max_ttl)),
        ("max per owner", "-" if policy.max_per_owner is None else str(policy.max_per_owner)),
        ("reuse delay", _seconds(policy.reuse_delay)),
        ("reuse first", "yes" if policy.reuse_first else "no"),
        ("description", "-" if policy.description is None else policy.description),
    ]
    return "\n".join(f"  {name + ':':<15}{value}" for name, value in rows)


def lease_line(lease: Lease) -> str:
    """One held lease on a line, as `objmgr pool` lists them."""
    expires = lease.expires_at.isoformat() if lease.expires_at else "never"
    return (
        f"  object {lease.obj}: token {lease.token}, owner {lease.owner or '-'}, "
        f"label {lease.label or '-'}, expires {expires}"
    )


@client_command()
@click.option("--pool", required=True, help="Pool name.")
@policy_options
@click.option("--clear", is_flag=True, help="Set the policy of no rules.")
def policy(
    client: Client,
    pool: str,
    clear: bool,
    **rules: Any,
) -> Result:
    """Show the policy of a pool, or replace it with the rules given.

    \b
    The rules given replace the whole policy: a rule not given is none
    (`objmgr policy --pool P --max-ttl 60` also drops a --max-per-owner set
    before). --clear sets the policy of no rules. Admins only, to change it.
    """
    wanted = policy_of(**rules)
    if clear and wanted != PoolPolicy():
        raise click.UsageError("--clear sets no rules: give it alone")
    if not clear and wanted == PoolPolicy():
        found = client.get_pool(pool)
        if found is None:
            raise ObjmgrError("POOL_NOT_FOUND", f"there is no pool named {pool!r}")
        return f"policy of pool {pool!r}\n{policy_text(found.policy)}", found.policy.to_json()
    changed = client.set_policy(pool, wanted)
    return f"set the policy of pool {pool!r}\n{policy_text(changed.policy)}", (
        changed.policy.to_json()
    )


@client_command()
@click.option("--pool", required=True, help="Pool name.")
@click.option("--owner", help="Only the leases of this owner.")
@click.option("--label-prefix", help="Only the leases whose label starts with this.")
@click.option("--obj", "objs", type=int, multiple=True, help="Only this object (repeatable).")
@click.option("--reason", help="Why, recorded in each REVOKED event.")
@click.option("--all", "every", is_flag=True, help="Every lease of the pool (no filter).")
def revoke(
    client: Client,
    pool: str,
    owner: str | None,
    label_prefix: str | None,
    objs: tuple[int, ...],
    reason: str | None,
    every: bool,
) -> Result:
    """End at once the leases of a pool that match every filter given.

    \b
    Their holders' next renew or free fails. Without a filter, --all says
    that every lease of the pool is meant. Admins only.
    """
    filtered = owner is not None or label_prefix is not None or bool(objs)
    if filtered == every:
        raise click.UsageError(
            "give --owner, --label-prefix or --obj, or --all for every lease of the pool"
            if not filtered
            else "--all revokes every lease: give it without filters"
        )
    revoked = client.revoke(pool, owner, label_prefix, list(objs) if objs else None, reason)
    noun = "lease" if len(revoked) == 1 else "leases"
    lines = [f"revoked {len(revoked)} {noun} of pool {pool!r}", *map(lease_line, revoked)]
    return "\n".join(lines), [lease.to_json() for lease in revoked]


@client_command()
@click.option("--owner", required=True, help="Whose leases.")
@click.option("--pool", help="Only in this pool  [default: every pool]")
@click.option(
    "--first",
    type=click.IntRange(min=1, max=1000),
    default=100,
    show_default=True,
    help="The most leases to print.",
)
def leases(client: Client, owner: str, pool: str | None, first: int) -> Result:
    """List one owner's leases, in every pool (by pool, then object) or in one."""
    found = client.leases(pool, first=first, owner=owner)
    noun = "lease" if len(found) == 1 else "leases"
    where = "" if pool is None else f" in pool {pool!r}"
    lines = [f"{len(found)} {noun} held by {owner}{where}"]
    lines += [f"  {lease.pool}{lease_line(lease)[1:]}" for lease in found]
    return "\n".join(lines), [lease.to_json() for lease in found]


COMMANDS = (policy, revoke, leases)
