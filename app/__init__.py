"""objmgr: hands out the objects 1..n of named pools, one holder at a time."""

from __future__ import annotations

import logging

from flask import Flask

from .config import Settings, serving_settings
from .flask_app import ObjmgrFlask
from .http_limits import BodyDeadline
from .logs import RequestIds, configure_logging, log_events
from .pool.errors import StoreUnavailable
from .service import LeaseService
from .stores import open_store
from .version import __version__

log = logging.getLogger(__name__)

MAX_BODY = 1024 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    """The WSGI app; gunicorn calls it once in each worker."""
    settings = serving_settings() if settings is None else settings
    # Before Flask's logger is first used, which adds a handler of its own when none is set.
    configure_logging(as_json=settings.logs_as_json)
    app = ObjmgrFlask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY
    app.wsgi_app = BodyDeadline(  # type: ignore[method-assign]
        app.wsgi_app, timeout=settings.body_timeout, max_body=MAX_BODY
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = open_store(
        settings.store,
        default_pool=("default", settings.pool_size),
        events_keep=settings.events_keep,
        redis_options=settings.redis_options,
    )
    store.listen(log_events)
    try:
        # The default pool and what else must exist; operations finish it if this fails.
        store.open()
    except StoreUnavailable as error:
        # Serve anyway: /readyz says 503 until the store answers.
        log.warning("store not ready at start: %s", error.message)
    service = LeaseService(store, max_wait=settings.max_wait)
    app.extensions["objmgr"] = service
    app.extensions["objmgr.settings"] = settings

    from . import api, dashboard

    api.register(app, settings, service)
    dashboard.register(app)
    # Imported here, in the worker: see app.metrics on why prometheus_client must wait.
    from .metrics.wiring import install as install_metrics

    instruments = install_metrics(app, settings, service)
    # Outermost: every answer carries the request id, a 408 or 413 of BodyDeadline too,
    # and every request's duration is observed.
    app.wsgi_app = RequestIds(  # type: ignore[method-assign]
        app.wsgi_app, served=instruments.request_served
    )
    return app


__all__ = ["Settings", "__version__", "create_app"]
