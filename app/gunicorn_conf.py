"""gunicorn settings from the environment (`deploy/gunicorn.conf.py` loads this).

The settings are checked here, in the master, before any worker forks: a bad
value stops the start with one line naming the variable and exit code 2,
instead of a crash loop of workers.
"""

from __future__ import annotations

import sys

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
wsgi_app = "app:create_app()"
