"""gevent's errors as one log line each, on logger `objmgr.errors`.

gevent's hub prints a full traceback to stderr for every greenlet that dies
with an exception and for every native-thread task that raises, even when
the caller gets the exception and handles it: a SQLite COMMIT refused by a
full disk fails on the hub's thread pool, the store answers
STORE_UNAVAILABLE, and the hub still prints the traceback, once per request.
Here each such failure is one line with the exception's type and message
and where it was raised; what happens next (a system error ending the loop,
the caller's exception) is the hub's as before.
"""

from __future__ import annotations

import logging
import os
import traceback
from types import ModuleType, TracebackType
from typing import Any

from .formatting import FIELDS

log = logging.getLogger("objmgr.errors")

MAX_MESSAGE = 500


def log_hub_errors(hub: Any = None) -> None:
    """Make `hub` (by default this thread's) log its errors instead of printing them."""
    if hub is None:
        import gevent

        hub = gevent.get_hub()
    # gevent documents replacing these on the hub instance.
    hub.print_exception = print_exception


def print_exception(
    context: Any,
    kind: type[BaseException] | None,
    value: BaseException | str | None,
    tb: TracebackType | None,
) -> None:
    """The hub's `print_exception`, as one line."""
    if not isinstance(kind, type):
        return
    if issubclass(kind, SystemExit) and getattr(value, "code", None) in (0, None):
        # A worker leaving on purpose (gunicorn's quit signal) is no failure.
        return
    message = "" if value is None else str(value)[:MAX_MESSAGE]
    log.error(
        "%s: %s",
        kind.__name__,
        message,
        extra={
            FIELDS: {
                # As `error` of a line logged with its exception: type and message.
                "error": f"{kind.__name__}: {message}",
                "where": _where(tb),
                "context": _described(context),
            }
        },
    )


def _where(tb: TracebackType | None) -> str | None:
    """The innermost frame of `tb`: path/module.py:line in function."""
    if tb is None:
        return None
    frames = traceback.extract_tb(tb)
    # The innermost frame outside gevent, where there is one: gevent's own say little.
    outside = [frame for frame in frames if f"{os.sep}gevent{os.sep}" not in frame.filename]
    frame = (outside or frames)[-1]
    path = os.sep.join(frame.filename.split(os.sep)[-2:])
    return f"{path}:{frame.lineno} in {frame.name}"


def _described(context: Any) -> str | None:
    """What failed, by the name of its function, never by a repr of its arguments."""
    if context is None:
        return None
    if isinstance(context, tuple) and context:
        # A thread-pool task: (the pool's worker, the function it ran).
        context = context[-1]
    function = getattr(context, "_run", context)
    name = getattr(function, "__qualname__", None) or type(function).__name__
    owner = getattr(function, "__self__", None)
    if owner is not None and not isinstance(owner, ModuleType) and "." not in name:
        return f"{type(owner).__name__}.{name}"
    return str(name)
