"""The pool gauges and `objmgr_store_up`, read from the store at each scrape."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..pool.errors import PoolError
from ..pool.lease import PoolStats
from ..stores.base import Store

log = logging.getLogger(__name__)

#: Pools read per page: the most one `pools(first)` may ask for.
PAGE = 1000


class PoolCollector(Collector):
    """Every pool's counts as the store keeps them: the same whichever worker or
    host is scraped. Each pool's counts are O(1) reads of the store, so a scrape
    costs the same at a million leases held as at ten; it costs a page read per
    `PAGE` pools.

    When the store does not answer, `objmgr_store_up` is 0 and no pool gauge is
    reported (a gauge of stale or partial counts would be worse than none); the
    scrape itself still answers.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "objmgr_store_up", "1 when the store answered this scrape's reads, else 0."
        )
        try:
            pools = self._every_pool()
        except PoolError as error:
            log.warning("metrics: the store did not answer the scrape: %s", error.message)
            up.add_metric([], 0)
            yield up
            return
        except Exception:
            log.exception("metrics: reading the pools failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _pool_gauges(pools)

    def _every_pool(self) -> list[PoolStats]:
        pools: list[PoolStats] = []
        after = ""
        while True:
            page = self.store.pools(PAGE, after)
            pools.extend(page)
            if len(page) < PAGE:
                return pools
            after = page[-1].name


def _pool_gauges(pools: list[PoolStats]) -> Iterator[Metric]:
    families = {
        "size": GaugeMetricFamily(
            "objmgr_pool_size", "Objects in the pool: 1..size.", labels=["pool"]
        ),
        "in_use": GaugeMetricFamily(
            "objmgr_pool_in_use", "Objects held by a live lease.", labels=["pool"]
        ),
        "available": GaugeMetricFamily(
            "objmgr_pool_available", "Objects of 1..size free to grant now.", labels=["pool"]
        ),
        "waiting": GaugeMetricFamily(
            "objmgr_pool_waiting", "Acquires waiting in the pool's queue.", labels=["pool"]
        ),
        "cooling": GaugeMetricFamily(
            "objmgr_pool_cooling",
            "Objects of 1..size out of circulation after an expiry or revocation, for "
            "the pool's reuseDelay: neither available nor in use.",
            labels=["pool"],
        ),
    }
    for stats in pools:
        families["size"].add_metric([stats.name], stats.size)
        families["in_use"].add_metric([stats.name], stats.in_use)
        families["available"].add_metric([stats.name], stats.available)
        families["waiting"].add_metric([stats.name], stats.waiting)
        families["cooling"].add_metric([stats.name], stats.cooling)
    yield from families.values()
