"""`objmgr events`: a pool's journal, and with --follow each new event as it is committed."""

from __future__ import annotations

import json
from collections.abc import Iterable

import click
from objmgr_client import DEFAULT_FOLLOW_INTERVAL, Client, Event, EventWatch, ObjmgrError

from .cli_support import current_context, exit_refused, json_option, pool_option, quiet_stdout


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


def _events_to_print(
    client: Client, pool: str, after: int | None, first: int, follow: bool
) -> Iterable[Event]:
    if not follow:
        return client.events(pool, after or 0, first)
    if after is None:
        # Everything the journal still holds: a replay from 0 would end at once
        # with EVENTS_TRIMMED on a pool whose oldest events were trimmed.
        oldest = client.events(pool, 0, 1)
        after = oldest[0].seq - 1 if oldest else 0
    return client.watch(pool, after)


@click.command()
@pool_option
@click.option(
    "--after",
    type=click.IntRange(min=0),
    help="Only events with a seq above this one (the last seq seen)  [default: 0, or with "
    "--follow all the journal still holds]",
)
@click.option(
    "--first",
    type=click.IntRange(min=1, max=1000),
    default=100,
    show_default=True,
    help="The most events to print (without --follow).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep printing new events as they are committed, until Ctrl-C (exit status 0). "
    "One streaming connection (GraphQL over Server-Sent Events), opened again after a drop "
    "from the last seq printed.",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05, max=60),
    default=DEFAULT_FOLLOW_INTERVAL,
    hidden=True,
    # Taken and ignored: --follow polled once, and scripts that tuned it still run.
    help="Ignored: --follow streams instead of polling.",
)
@json_option
def events(pool: str, after: int | None, first: int, follow: bool, interval: float) -> None:
    """Print the journal of a pool: one line per event, oldest first.

    \b
    Each line: seq, time, kind, then what the event carries (obj, token, owner,
    label, size, expires, principal, reason). --json prints one JSON object per
    line. A pool that never existed has no events; a deleted pool's stay.
    """
    del interval
    context = current_context()
    client = context.client()
    show = (lambda e: json.dumps(e.to_json())) if context.json else _event_text
    found: Iterable[Event] = ()
    try:
        found = _events_to_print(client, pool, after, first, follow)
        for event in found:
            click.echo(show(event))
    except ObjmgrError as error:
        exit_refused(error)
    except KeyboardInterrupt:
        # Ctrl-C is how --follow ends: not a failure.
        return
    except BrokenPipeError:
        # The reader went away (`| head`): nothing left to print to.
        quiet_stdout()
        return
    finally:
        if isinstance(found, EventWatch):
            found.close()
