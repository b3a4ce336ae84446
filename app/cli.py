"""The `objmgr` command: the group, its options, `serve`, and the subcommands of
app/cli_client.py and app/cli_events.py."""

from __future__ import annotations

import os
import sys

import click
from objmgr_client import DEFAULT_TIMEOUT, DEFAULT_URL, Client

from . import cli_client, cli_events, cli_policy
from .cli_support import EXIT_REFUSED, EXIT_UNREACHABLE, Context, json_option
from .config import ConfigError, Settings
from .version import __version__

__all__ = ["EXIT_REFUSED", "EXIT_UNREACHABLE", "main"]


def _check_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        Client(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value


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
@click.option(
    "--store",
    help="sqlite:///PATH, redis://HOST:PORT/DB, rediss://HOST:PORT/DB, "
    "redis+cluster://H:P[,H:P...], redis+sentinel://H:P[,H:P...]/MASTER[/DB] or memory:// "
    "(OBJMGR_STORE; the Redis password goes in OBJMGR_REDIS_PASSWORD or "
    "OBJMGR_REDIS_PASSWORD_FILE, not here).",
)
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


for command in (*cli_client.COMMANDS, *cli_policy.COMMANDS, cli_events.events):
    main.add_command(command)


if __name__ == "__main__":
    main()
