"""The `objmgr` command."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
from objmgr_client import (
    DEFAULT_FOLLOW_INTERVAL,
    DEFAULT_TIMEOUT,
    DEFAULT_URL,
    Client,
    Event,
    Lease,
    ObjmgrError,
    Pool,
)

from .config import ConfigError, Settings
from .version import __version__

# Exit statuses scripts can tell apart; click's usage errors exit 2.
EXIT_REFUSED = 1
EXIT_UNREACHABLE = 3


@dataclass
class Context:
    url: str = DEFAULT_URL
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    json: bool = False

    def client(self) -> Client:
        return Client(self.url, token=self.token, timeout=self.timeout)


def _check_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        Client(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


def _want_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(Context).json = True


json_option = click.option(
    "--json",
    "as_json",
    is_flag=True,
    expose_value=False,
    callback=_want_json,
    help="Print JSON for scripts instead of text.",
)


@click.group()
@click.version_option(__version__, prog_name="objmgr")
@click.option(
    "--url",
    envvar="OBJMGR_URL",
    default=DEFAULT_URL,
    show_default=True,
    callback=_check_url,
    help="The server to talk to (OBJMGR_URL).",
)
@click.option("--token", envvar="OBJMGR_TOKEN", help="Bearer token (OBJMGR_TOKEN).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for an answer (on top of --wait).",
)
@json_option
@click.pass_context
def main(ctx: click.Context, url: str, token: str | None, timeout: float) -> None:
    """objmgr: hands out the objects 1..n of named pools, one holder at a time.

    \b
    Exit statuses: 0 done, 1 refused (the code is printed, e.g. NOT_ALLOCATED),
    2 wrong usage, 3 the server or its store could not be reached (retry later).
    """
    context = ctx.ensure_object(Context)
    context.url, context.token, context.timeout = url, token or None, timeout


@main.command()
@click.option("--bind", help="HOST:PORT to listen on (OBJMGR_BIND).")
@click.option("--workers", type=int, help="gunicorn workers (OBJMGR_WORKERS).")
@click.option("--store", help="sqlite:///PATH, redis://HOST:PORT/DB or memory:// (OBJMGR_STORE).")
def serve(bind: str | None, workers: int | None, store: str | None) -> None:
    """Serve the GraphQL API with gunicorn and gevent workers."""
    for variable, value in (
        ("OBJMGR_BIND", bind),
        ("OBJMGR_WORKERS", workers),
        ("OBJMGR_STORE", store),
    ):
        if value is not None:
            os.environ[variable] = str(value)
    try:
        Settings.from_env()
    except ConfigError as error:
        raise click.ClickException(f"cannot start: {error}") from None
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "gunicorn", "--config", "python:app.gunicorn_conf"],
    )


def client_command(name: str | None = None) -> Callable[[Callable[..., Any]], click.Command]:
    """A subcommand that talks to the server: `--json`, and refusals as exit statuses."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> None:
            context = click.get_current_context().find_object(Context)
            assert context is not None
            try:
                result = function(context.client(), *args, **kwargs)
            except ObjmgrError as error:
                _exit_refused(error)
            text, data = result
            if context.json:
                click.echo(json.dumps(data, indent=2))
            elif text:
                click.echo(text)

        return main.command(name)(json_option(run))

    return decorate


def _exit_refused(error: ObjmgrError) -> NoReturn:
    """`CODE: message` on stderr, and the exit status of a refusal or of a server away."""
    click.echo(f"{error.code}: {error.message}", err=True)
    sys.exit(EXIT_UNREACHABLE if error.retryable else EXIT_REFUSED)


def _lease_text(lease: Lease, headline: str) -> str:
    expires = lease.expires_at.isoformat() if lease.expires_at else "never"
    rows = [
        ("token", str(lease.token)),
        ("owner", lease.owner if lease.owner is not None else "-"),
        ("label", lease.label if lease.label is not None else "-"),
        ("acquired", lease.acquired_at.isoformat()),
        ("expires", expires),
    ]
    return "\n".join([headline, *(f"  {name + ':':<10}{value}" for name, value in rows)])


def _pools_text(pools: list[Pool]) -> str:
    rows = [("NAME", "SIZE", "IN USE", "AVAILABLE", "WAITING")]
    rows += [(p.name, str(p.size), str(p.in_use), str(p.available), str(p.waiting)) for p in pools]
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column == 0 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    )


Result = tuple[str, Any]


def _objects(count: int) -> str:
    return f"{count} object" if count == 1 else f"{count} objects"


pool_option = click.option("--pool", default="default", show_default=True, help="Pool name.")


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
def acquire(
    client: Client,
    pool: str,
    owner: str | None,
    label: str | None,
    ttl: float | None,
    wait: float | None,
    request_id: str | None,
) -> Result:
    """Take a free object of a pool."""
    lease = client.acquire(pool, owner, label, ttl, wait, request_id)
    return _lease_text(lease, f"acquired object {lease.obj} of pool {lease.pool!r}"), (
        lease.to_json()
    )


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
    lines = [_pools_text([found])]
    lines += [
        f"  object {lease.obj}: token {lease.token}, owner {lease.owner or '-'}, "
        f"label {lease.label or '-'}, expires "
        f"{lease.expires_at.isoformat() if lease.expires_at else 'never'}"
        for lease in leases
    ]
    return "\n".join(lines), {**found.to_json(), "leases": [lease.to_json() for lease in leases]}


@client_command("create-pool")
@click.argument("name")
@click.argument("size", type=int)
def create_pool(client: Client, name: str, size: int) -> Result:
    """Create pool NAME of objects 1..SIZE."""
    pool = client.create_pool(name, size)
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


def _event_value(value: object) -> str:
    text = str(value)
    # Free text (labels, reasons) quoted when it would not read as one word.
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text)
    return text


def _event_text(event: Event) -> str:
    fields: list[tuple[str, object]] = [
        ("obj", event.obj),
        ("token", event.token),
        ("owner", event.owner),
        ("label", event.label),
        ("size", event.size),
        ("expires", event.expires_at and event.expires_at.isoformat(timespec="milliseconds")),
        ("principal", event.principal),
        ("reason", event.reason),
    ]
    given = " ".join(f"{name}={_event_value(value)}" for name, value in fields if value is not None)
    at = event.at.isoformat(timespec="milliseconds")
    return f"{event.seq} {at} {event.kind:<14} {given}".rstrip()


@main.command()
@pool_option
@click.option(
    "--after",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Only events with a seq above this one (the last seq seen).",
)
@click.option(
    "--first",
    type=click.IntRange(min=1, max=1000),
    default=100,
    show_default=True,
    help="The most events to print; with --follow, the most read at a time.",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep printing new events as they come, until Ctrl-C (exit status 0).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=60),
    default=DEFAULT_FOLLOW_INTERVAL,
    show_default=True,
    help="With --follow: seconds between looks for new events when none came.",
)
@json_option
def events(pool: str, after: int, first: int, follow: bool, interval: float) -> None:
    """Print the journal of a pool: one line per event, oldest first.

    \b
    Each line: seq, time, kind, then what the event carries (obj, token, owner,
    label, size, expires, principal, reason). --json prints one JSON object per
    line. A pool that never existed has no events; a deleted pool's stay.
    """
    context = click.get_current_context().find_object(Context)
    assert context is not None
    client = context.client()
    show = (lambda e: json.dumps(e.to_json())) if context.json else _event_text
    try:
        found = (
            client.follow(pool, after, first, interval)
            if follow
            else client.events(pool, after, first)
        )
        for event in found:
            click.echo(show(event))
    except ObjmgrError as error:
        _exit_refused(error)
    except KeyboardInterrupt:
        # Ctrl-C is how --follow ends: not a failure.
        return
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to print to.
        _quiet_stdout()
        return


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit finds no broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


@client_command("server-version")
def server_version(client: Client) -> Result:
    """Print the server's version."""
    version = client.version()
    return version, {"version": version}


if __name__ == "__main__":
    main()
