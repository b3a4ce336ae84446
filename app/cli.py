"""The `objmgr` command."""

from __future__ import annotations

import os
import sys

import click

from .config import ConfigError, Settings
from .version import __version__


@click.group()
@click.version_option(__version__, prog_name="objmgr")
def main() -> None:
    """objmgr: hands out the objects 1..n of named pools, one holder at a time."""


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


if __name__ == "__main__":
    main()
