"""gunicorn settings from the environment (`deploy/gunicorn.conf.py` loads this).

The settings are checked here, in the master, before any worker forks: a bad
value stops the start with one line naming the variable and exit code 2,
instead of a crash loop of workers.
"""

from __future__ import annotations

import sys
from typing import Any

import gevent

from app.config import ConfigError, Settings

try:
    _settings = Settings.from_env()
except ConfigError as _error:
    print(f"objmgr: cannot start: {_error}", file=sys.stderr)
    sys.exit(2)

bind = [_settings.bind]
workers = _settings.workers
worker_class = "gevent"
worker_connections = 1000
# Blocking acquires hold a request open for up to OBJMGR_MAX_WAIT seconds.
timeout = int(max(30, _settings.max_wait + 30))
graceful_timeout = int(max(30, _settings.max_wait + 5))
keepalive = 5
accesslog = "-"
errorlog = "-"
loglevel = "info"
proc_name = "objmgr"
# gunicorn's control socket defaults to one path per user, which a second
# objmgr on the host would take over; nothing here uses it.
control_socket_disable = True
wsgi_app = "app:create_app()"


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """Keep memory:// at one worker when asked for more at run time (SIGTTIN, gunicornc).

    A second worker would have pools of its own and hand out the same objects
    and tokens as the first; the check at start cannot see this later change.
    """
    if _settings.store == "memory://" and new_value > 1:
        server.log.error(
            "objmgr: the memory:// store lives in one process; staying at 1 worker "
            "(use a sqlite:/// or redis:// store to run more)"
        )
        server.num_workers = 1


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """Give the worker's other connections a turn after every response.

    A gevent worker goes on to a keep-alive client's next request as soon as it
    has answered the last, and when that request is already there nothing else
    runs in between: under load a few busy clients can hold a worker for a
    second while its other connections wait, new ones too (a health probe, a
    free). The README's Speed section has the figures.
    """
    gevent.sleep(0)
