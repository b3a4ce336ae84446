"""Every request gets an id and a `RequestRecord`, made at the outside of the app.

The id is the client's `X-Request-Id` when it is usable, else a new one, and is
echoed in the response's `X-Request-Id` on every answer, refusals included. A
client's id is usable when it is short and made of characters that need no
escaping anywhere (letters, digits, `._~:+/=-`): anything else is replaced,
not cleaned, so the log never holds a client's raw bytes as an id and a
client never sees its id changed into something it did not send.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from time import perf_counter
from typing import Any

from ..request_record import RequestRecord, enter, leave

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Where the request's record stays in the WSGI environ, for gunicorn's access
#: line, which is written after the app returned (and its context was reset).
ENVIRON_KEY = "objmgr.request"
MAX_REQUEST_ID = 128
# gunicorn bounds the request line; this keeps one line of the log short too.
MAX_LOGGED_PATH = 512

_USABLE = re.compile(rf"[A-Za-z0-9._~:+/=-]{{1,{MAX_REQUEST_ID}}}")
_usable = _USABLE.fullmatch


def request_id_for(sent: str | None) -> str:
    """The id of a request whose client sent `sent` as its `X-Request-Id`."""
    if sent is not None and _usable(sent):
        return sent
    # As random as a uuid4's hex, without building a UUID for every request.
    return os.urandom(16).hex()


class RequestIds:
    """The outermost WSGI layer: the request's record, current while the app
    runs; its id echoed; and, once the app returned, `served` told the record
    and the seconds it took (the metrics' request durations)."""

    def __init__(
        self, app: WSGIApp, served: Callable[[RequestRecord, float], None] | None = None
    ) -> None:
        self.app = app
        self.served = served

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = perf_counter()
        sent = environ.get("HTTP_X_REQUEST_ID")
        # request_id_for, inline: this runs for every request.
        request_id = sent if sent is not None and _usable(sent) else os.urandom(16).hex()
        record = RequestRecord(
            request_id,
            environ.get("REQUEST_METHOD", ""),
            environ.get("PATH_INFO", "")[:MAX_LOGGED_PATH],
        )
        environ[ENVIRON_KEY] = record
        echoed = ("X-Request-Id", record.request_id)

        def start_echoing(status: str, headers: list[tuple[str, str]], *exc_info: Any) -> Any:
            headers.append(echoed)
            return start_response(status, headers, *exc_info)

        token = enter(record)
        try:
            return self.app(environ, start_echoing)
        finally:
            leave(token)
            if self.served is not None:
                self.served(record, perf_counter() - started)
