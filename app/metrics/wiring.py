"""What `create_app` calls: the instruments, what moves them, and `/metrics`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask import Flask, request
from prometheus_client import CollectorRegistry, disable_created_metrics, values

from ..config import Settings
from ..logs import ENVIRON_KEY
from ..request_record import RequestRecord, current_request
from ..service import LeaseService
from .collector import PoolCollector
from .endpoint import EXTENSION, Scrape, bp
from .instruments import Instruments
from .labels import UNROUTED, endpoint_operation, operation_label
from .multiprocess import VARIABLE, shared_directory

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment


def install(app: Flask, settings: Settings, service: LeaseService) -> Instruments:
    directory = shared_directory()
    if directory is not None and values.ValueClass is values.MutexValue:
        # Each worker would count alone while the scrape reads the others' files.
        raise RuntimeError(
            f"prometheus_client was imported before {VARIABLE} was set: "
            "its values would not be shared between workers"
        )
    # The `_created` series would double the series for nothing a dashboard reads;
    # multiprocess mode has none either.
    disable_created_metrics()
    registry = CollectorRegistry()
    instruments = Instruments(registry)
    pools = PoolCollector(service.store)
    registry.register(pools)
    service.store.listen(instruments.count_events)
    service.observer = instruments
    app.extensions[EXTENSION] = Scrape(registry, pools, directory, settings.metrics_token)
    _time_requests(app, instruments)
    app.register_blueprint(bp)
    return instruments


def _time_requests(app: Flask, instruments: Instruments) -> None:
    @app.before_request
    def name_the_endpoint() -> None:
        # The view names a GraphQL operation itself; any other route is its own name.
        record = current_request()
        if record is not None and record.operation is None:
            record.operation = endpoint_operation(request.endpoint)

    app.wsgi_app = RequestTimer(app.wsgi_app, instruments)  # type: ignore[method-assign]


class RequestTimer:
    """Outermost WSGI layer: each request's duration, by the operation its record names."""

    def __init__(self, app: WSGIApplication, instruments: Instruments) -> None:
        self.app = app
        self.instruments = instruments

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        try:
            return self.app(environ, start_response)
        finally:
            record: RequestRecord | None = environ.get(ENVIRON_KEY)
            operation = record.operation if record is not None else None
            label = operation_label(operation) if operation else UNROUTED
            self.instruments.request_served(label, time.perf_counter() - started)
