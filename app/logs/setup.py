"""Logging for the whole process: one handler on the root logger, on stderr.

The app's loggers, gunicorn's (through `GunicornLogger`), gevent's errors
(`hub_errors`) and Python's warnings all reach that one handler, so every line
of the process has one shape, json or text (`OBJMGR_LOG_FORMAT`).
"""

from __future__ import annotations

import _thread
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
    """Writes to whatever `sys.stderr` is when a line is written, not when it was made.

    A line costs its formatting, one write and one flush, under one lock: the
    handler skips what `logging.Handler` does for what it does not have (no
    filter here: the loggers' levels choose the lines).
    """

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def createLock(self) -> None:
        # The C lock, not the Python one that gevent's patching leaves `threading.RLock`:
        # it keeps OS threads (gevent's thread pool) from interleaving lines, and no
        # greenlet switches inside a write to stderr, which gevent leaves blocking.
        self.lock = _thread.RLock()  # type: ignore[assignment]
        register = getattr(logging, "_register_at_fork_reinit_lock", None)
        if register is not None:
            register(self)

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _: Any) -> None:
        # StreamHandler sets it; the property answers for it.
        pass

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if self.filters and not self.filter(record):
            return False
        with self.lock:  # type: ignore[union-attr]
            self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            formatter = self.formatter
            line = (self.format(record) if formatter is None else formatter.format(record)) + "\n"
            stream = sys.stderr
            stream.write(line)
            stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


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
