"""What the `objmgr` command's subcommands share: the options given before them, `--json`,
and refusals as exit statuses."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
from objmgr_client import DEFAULT_TIMEOUT, DEFAULT_URL, Client, ObjmgrError

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


def current_context() -> Context:
    """The options the group took, for the subcommand running now."""
    context = click.get_current_context().find_object(Context)
    assert context is not None
    return context


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

pool_option = click.option("--pool", default="default", show_default=True, help="Pool name.")

# What a client command gives back: its text, and its JSON for --json.
Result = tuple[str, Any]


def client_command(name: str | None = None) -> Callable[[Callable[..., Any]], click.Command]:
    """A subcommand that talks to the server: `--json`, and refusals as exit statuses."""

    def decorate(function: Callable[..., Any]) -> click.Command:
        @functools.wraps(function)
        def run(*args: Any, **kwargs: Any) -> None:
            context = current_context()
            try:
                result = function(context.client(), *args, **kwargs)
            except ObjmgrError as error:
                exit_refused(error)
            text, data = result
            if context.json:
                click.echo(json.dumps(data, indent=2))
            elif text:
                click.echo(text)

        return click.command(name)(json_option(run))

    return decorate


def exit_refused(error: ObjmgrError) -> NoReturn:
    """`CODE: message` on stderr, and the exit status of a refusal or of a server away."""
    click.echo(f"{error.code}: {error.message}", err=True)
    sys.exit(EXIT_UNREACHABLE if error.retryable else EXIT_REFUSED)


def quiet_stdout() -> None:
    """Point stdout at /dev/null so that Python's flush at exit finds no broken pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
