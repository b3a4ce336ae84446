"""What `create_app` calls: the instruments, what moves them, and `/metrics`."""

from __future__ import annotations

import time
import uuid
from contextlib import ExitStack

from flask import Flask, g, request
from prometheus_client import CollectorRegistry, disable_created_metrics, values

from ..config import Settings
from ..request_record import RequestRecord, current_request, serving
from ..service import LeaseService
from .collector import PoolCollector
from .endpoint import EXTENSION, Scrape, bp
from .instruments import Instruments
from .labels import endpoint_operation
from .multiprocess import VARIABLE, shared_directory


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
    def started() -> None:
        g.objmgr_started = time.perf_counter()
        if current_request() is None:
            # Served without the logs' middleware (which makes the record of every
            # request): a record of its own, for the view to name the operation in.
            own = ExitStack()
            own.enter_context(
                serving(RequestRecord(uuid.uuid4().hex, request.method, request.path))
            )
            g.objmgr_own_record = own

    @app.teardown_request
    def served(_error: BaseException | None) -> None:
        started = g.pop("objmgr_started", None)
        if started is not None:
            record = current_request()
            operation = record.operation if record is not None else None
            if operation is None:
                operation = endpoint_operation(request.endpoint)
            instruments.request_served(operation, time.perf_counter() - started)
        own: ExitStack | None = g.pop("objmgr_own_record", None)
        if own is not None:
            own.close()
