# gunicorn -c deploy/gunicorn.dev.conf.py --reload  (docker-compose.dev.yml uses it)
# deploy/gunicorn.conf.py, plus workers that import objmgr afresh: the master imports
# the app package to check the settings, and a worker forked from it would otherwise
# keep running that first code however often --reload restarts it.
import sys
from typing import Any

from app.gunicorn_conf import *  # noqa: F403
from app.gunicorn_conf import post_fork as serving_post_fork


def post_fork(server: Any, worker: Any) -> None:
    serving_post_fork(server, worker)
    for name in [name for name in sys.modules if name == "app" or name.startswith("app.")]:
        del sys.modules[name]
