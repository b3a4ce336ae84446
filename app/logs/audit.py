"""The audit trail: one line for every event a store commits, on logger `objmgr.events`.

A store tells its listeners in the greenlet (or thread) that made the change,
so the line carries the id of the request that caused it; an expiry reclaimed
by the reaper runs off any request and carries none.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from ..pool.events import Event
from ..request_record import current_request
from .formatting import info_record, iso_time

log = logging.getLogger("objmgr.events")


def event_fields(event: Event, request_id: str | None) -> dict[str, Any]:
    return {
        "pool": event.pool,
        "seq": event.seq,
        # A StrEnum's str is its value, without the enum's `value` property's call.
        "kind": str(event.kind),
        "at": iso_time(event.at),
        "obj": event.obj,
        "token": event.token,
        "owner": event.owner,
        "label": event.label,
        "principal": event.principal,
        "reason": event.reason,
        "size": event.size,
        "expires_at": None if event.expires_at is None else iso_time(event.expires_at),
        "request_id": request_id,
    }


def log_events(events: Sequence[Event]) -> None:
    """An `EventListener`: log each of `events`."""
    if not log.isEnabledFor(logging.INFO):
        return
    serving = current_request()
    request_id = None if serving is None else serving.request_id
    for event in events:
        fields = event_fields(event, request_id)
        message = f"{fields['kind']} pool {event.pool} seq {event.seq}"
        log.handle(info_record(log, message, fields))
