# gunicorn -c deploy/gunicorn.dev.conf.py --reload  (docker-compose.dev.yml uses it)
# deploy/gunicorn.conf.py, plus workers that import objmgr afresh: the master imports
# the app package to check the settings, and a worker forked from it would otherwise
# keep running that first code however often --reload restarts it.
import sys
from typing import Any

from app.gunicorn_conf import *  # noqa: F403


def post_fork(server: Any, worker: Any) -> None:
    for name in [name for name in sys.modules if name == "app" or name.startswith("app.")]:
        del sys.modules[name]
