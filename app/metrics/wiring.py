"""What `create_app` calls: the instruments, what moves them, and `/metrics`."""

from __future__ import annotations

from flask import Flask
from prometheus_client import CollectorRegistry, disable_created_metrics, values

from ..config import Settings
from ..service import LeaseService
from .collector import PoolCollector
from .endpoint import EXTENSION, Scrape, bp
from .instruments import Instruments
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
    app.register_blueprint(bp)
    return instruments
