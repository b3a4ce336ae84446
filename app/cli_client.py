"""The `objmgr` subcommands that take, give back and show leases, and administer pools."""

from __future__ import annotations

from typing import Any

import click
from objmgr_client import NO_POLICY, Client, Lease, LeaseSet, ObjmgrError, Pool

from .cli_policy import lease_line, policy_of, policy_options, policy_text
from .cli_support import Result, client_command, pool_option


def _lease_text(lease: Lease, headline: str) -> str:
    expires = lease.expires_at.isoformat() if lease.expires_at else "never"
    rows = [
        ("token", str(lease.token)),
        ("owner", lease.owner if lease.owner is not None else "-"),
        ("label", lease.label if lease.label is not None else "-"),
        ("acquired", lease.acquired_at.isoformat()),
        ("expires", expires),
        ("ttl", "-" if lease.ttl is None else f"{lease.ttl:g} s"),
        ("request", lease.request_id or "-"),
    ]
    return "\n".join([headline, *(f"  {name + ':':<10}{value}" for name, value in rows)])


def _pools_text(pools: list[Pool]) -> str:
    rows = [("NAME", "SIZE", "IN USE", "AVAILABLE", "WAITING", "COOLING")]
    rows += [
        (p.name, str(p.size), str(p.in_use), str(p.available), str(p.waiting), str(p.cooling))
        for p in pools
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"


def _replayed(replayed: bool) -> str:
    return " (granted before, to a request with this id)" if replayed else ""


def _lease_set_text(granted: LeaseSet, pool: str) -> str:
    objs = ", ".join(str(obj) for obj in granted.objs)
    headline = f"acquired objects {objs} of pool {pool!r}{_replayed(granted.replayed)}"
    return "\n".join([headline, *map(lease_line, granted)])


@client_command()
@pool_option
@click.option("--owner", help="Owner to record (ignored when auth is on: the token decides).")
@click.option("--label", help="Free text: a process name, a job id (at most 256 characters).")
@click.option("--ttl", type=float, help="Seconds until the lease expires by itself.")
@click.option("--wait", type=float, help="Seconds to wait in line when nothing is free.")
@click.option(
    "--request-id",
    help="Makes a repeat return the same lease, not another (default: a new id, which "
    "the retry after a lost answer reuses).",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    help="Take this many objects at once, all or none (at most 1000).",
)
@click.option("--contiguous", is_flag=True, help="With --count: consecutive objects k..k+count-1.")
@click.option("--obj", type=int, help="Take exactly this object (OBJECT_HELD while it is held).")
def acquire(
    client: Client,
    pool: str,
    owner: str | None,
    label: str | None,
    ttl: float | None,
    wait: float | None,
    request_id: str | None,
    count: int | None,
    contiguous: bool,
    obj: int | None,
) -> Result:
    """Take a free object of a pool, several at once (--count), or a named one (--obj).

    \b
    --json prints the lease (with --count: {"pool", "replayed", "leases"});
    "replayed" is true when the server had granted it already, to an earlier
    request with the same --request-id.
    """
    if obj is not None and (count is not None or contiguous):
        raise click.UsageError("--obj names one object: not with --count or --contiguous")
    if contiguous and count is None:
        raise click.UsageError("--contiguous goes with --count")
    if count is not None:
        granted = client.acquire_many(count, pool, contiguous, owner, label, ttl, wait, request_id)
        leases: list[Any] = [lease.to_json() for lease in granted]
        return _lease_set_text(granted, pool), {
            "pool": pool,
            "replayed": granted.replayed,
            "leases": leases,
        }
    lease = client.acquire(pool, owner, label, ttl, wait, request_id, obj=obj)
    headline = f"acquired object {lease.obj} of pool {lease.pool!r}{_replayed(lease.replayed)}"
    return _lease_text(lease, headline), {**lease.to_json(), "replayed": lease.replayed}


@client_command()
@click.argument("obj", type=int)
@pool_option
@click.option("--token", type=int, help="Free only if this is still the lease's fencing token.")
def free(client: Client, obj: int, pool: str, token: int | None) -> Result:
    """Give object OBJ back."""
    freed = client.free(obj, pool, token)
    return f"freed object {freed} of pool {pool!r}", {"pool": pool, "obj": freed}


@client_command()
@click.argument("obj", type=int)
@click.option("--token", type=int, required=True, help="The lease's fencing token.")
@pool_option
@click.option("--ttl", type=float, help="New time to live in seconds (default: the last one).")
def renew(client: Client, obj: int, token: int, pool: str, ttl: float | None) -> Result:
    """Push the expiry of the lease on OBJ further out."""
    lease = client.renew(obj, token, pool, ttl)
    return _lease_text(lease, f"renewed object {lease.obj} of pool {lease.pool!r}"), (
        lease.to_json()
    )


@client_command("lease")
@click.argument("obj", type=int)
@pool_option
def show_lease(client: Client, obj: int, pool: str) -> Result:
    """Show who holds object OBJ (`null` in JSON when it is free)."""
    lease = client.get_lease(obj, pool)
    if lease is None:
        return f"object {obj} of pool {pool!r} is free", None
    return _lease_text(lease, f"object {obj} of pool {pool!r} is held"), lease.to_json()


@client_command()
def pools(client: Client) -> Result:
    """List the pools with their counts."""
    found = client.pools()
    return _pools_text(found), [pool.to_json() for pool in found]


@client_command("pool")
@click.argument("name", default="default")
def show_pool(client: Client, name: str) -> Result:
    """Show pool NAME and the leases held in it (the first 1000)."""
    found = client.get_pool(name)
    if found is None:
        raise ObjmgrError("POOL_NOT_FOUND", f"there is no pool named {name!r}")
    leases = client.leases(name, first=1000)
    lines = [_pools_text([found]), "policy:", policy_text(found.policy), "leases:"]
    lines += [lease_line(lease) for lease in leases]
    return "\n".join(lines), {**found.to_json(), "leases": [lease.to_json() for lease in leases]}


@client_command("create-pool")
@click.argument("name")
@click.argument("size", type=int)
@policy_options
def create_pool(client: Client, name: str, size: int, **rules: Any) -> Result:
    """Create pool NAME of objects 1..SIZE, with the policy's rules given (none by default)."""
    policy = policy_of(**rules)
    pool = client.create_pool(name, size, None if policy == NO_POLICY else policy)
    return f"created pool {pool.name!r} of {_objects(pool.size)}", pool.to_json()


@client_command("resize-pool")
@click.argument("name")
@click.argument("size", type=int)
def resize_pool(client: Client, name: str, size: int) -> Result:
    """Resize pool NAME to objects 1..SIZE (leases above SIZE stay valid until freed)."""
    pool = client.resize_pool(name, size)
    return f"resized pool {pool.name!r} to {_objects(pool.size)} ({pool.in_use} in use)", (
        pool.to_json()
    )


@client_command("delete-pool")
@click.argument("name")
@click.option("--force", is_flag=True, help="Delete even while objects are held.")
def delete_pool(client: Client, name: str, force: bool) -> Result:
    """Delete pool NAME."""
    pool = client.delete_pool(name, force)
    return f"deleted pool {pool.name!r}", pool.to_json()


@client_command("server-version")
def server_version(client: Client) -> Result:
    """Print the server's version."""
    version = client.version()
    return version, {"version": version}


COMMANDS = (
    acquire,
    free,
    renew,
    show_lease,
    pools,
    show_pool,
    create_pool,
    resize_pool,
    delete_pool,
    server_version,
)
