"""gunicorn's error and access logs in the app's shape (`logger_class` in app/gunicorn_conf.py).

gunicorn's own lines (`gunicorn.error`: starting, booting workers, signals)
go to the root logger's handler like every other line, instead of through
handlers and formats of gunicorn's own.

The access line is gunicorn's, one per request, and the app writes none: the
worker knows what the app cannot, the status actually sent and the time until
the last byte of the body was written. It is written after the app returned,
so it reads the request's record from the environ (`request_ids.ENVIRON_KEY`),
where the view left the principal and the operation.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from .formatting import info_record
from .request_ids import ENVIRON_KEY, MAX_LOGGED_PATH
from .setup import configure_logging, configured_as_json

access_log = logging.getLogger("objmgr.access")


class GunicornLogger(Logger):
    def setup(self, cfg: Any) -> None:
        # gunicorn runs this again on a reload and on SIGUSR1 (reopening files).
        self.cfg = cfg
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        if configured_as_json() is None:
            # Under a configuration other than app/gunicorn_conf.py, which sets the format first.
            configure_logging(as_json=False)
        # Read once: a setting of gunicorn's Config is looked up through its __getattr__.
        self._access_on = cfg.accesslog is not None
        self.error_log.setLevel(self.loglevel)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True

    @property
    def access_log_enabled(self) -> bool:
        # `accesslog = None` turns the access line off, as it does in gunicorn.
        return self._access_on

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not self._access_on or not access_log.isEnabledFor(logging.INFO):
            return
        record = environ.get(ENVIRON_KEY)
        method = environ.get("REQUEST_METHOD", "") if record is None else record.method
        path = environ.get("PATH_INFO", "")[:MAX_LOGGED_PATH] if record is None else record.path
        status = resp.status_code
        access_log.handle(
            info_record(
                access_log,
                f"{method} {path} {status}",
                {
                    "request_id": None if record is None else record.request_id,
                    "method": method,
                    "path": path,
                    "status": status,
                    # Whole microseconds over 1000: milliseconds to 3 places, without round().
                    "duration_ms": (
                        (request_time.days * 86_400 + request_time.seconds) * 1_000_000
                        + request_time.microseconds
                    )
                    / 1000,
                    "principal": None if record is None else record.principal,
                    "operation": None if record is None else record.operation,
                    "remote_addr": environ.get("REMOTE_ADDR"),
                    "bytes": resp.sent,
                },
            )
        )
