"""Logging for the whole process: one handler on the root logger, on stderr.

The app's loggers, gunicorn's (through `GunicornLogger`), gevent's errors
(`hub_errors`) and Python's warnings all reach that one handler, so every line
of the process has one shape, json or text (`OBJMGR_LOG_FORMAT`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from .formatting import JsonFormatter, TextFormatter

# Marks the handler made here, so that configuring again replaces it: a
# development worker imports the app afresh and configures again after the
# master did, with formatters of its own modules.
_MARK = "objmgr_handler"
_as_json: bool | None = None


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a line is written, not when it was made."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        # StreamHandler sets it; the property answers for it.
        pass


def configure_logging(as_json: bool, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr as JSON lines (`as_json`) or key=value lines."""
    global _as_json
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
    handler = StderrHandler()
    handler.setFormatter(JsonFormatter() if as_json else TextFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    # What no line shows, left uncollected: the logging HOWTO's "Optimization"
    # lists these switches. Each record would otherwise walk the stack for its
    # caller and look up its thread and process names, on every request's path.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _as_json = as_json


def configured_as_json() -> bool | None:
    """The format `configure_logging` set last in this process; None before it ran."""
    return _as_json
