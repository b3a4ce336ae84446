# gunicorn -c deploy/gunicorn.conf.py  (serves app:create_app() with gevent workers)
# Every setting comes from OBJMGR_* variables; see the README's configuration table.
from app.gunicorn_conf import *  # noqa: F401,F403
