"""The reaper of every store: a batch cut short by the store closing is no failure."""

from __future__ import annotations

import logging
import threading

import pytest

from app.pool.errors import StoreUnavailable
from app.stores.waking import Reaper


def test_a_batch_the_store_closed_under_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    in_batch, closed, finished = threading.Event(), threading.Event(), threading.Event()

    def reclaim(limit: int) -> float | None:
        in_batch.set()
        assert closed.wait(30), "the test closes the reaper"
        finished.set()
        # What a store's batch raises once its connections are closed under it.
        raise StoreUnavailable("the Redis store cannot be reached (ConnectionError); retry later")

    reaper = Reaper(reclaim)
    before = set(threading.enumerate())
    with caplog.at_level(logging.INFO, logger="app.stores.waking"):
        reaper.start()
        assert in_batch.wait(30)
        threads = [t for t in set(threading.enumerate()) - before if t.name == "objmgr-reaper"]
        reaper.close()
        closed.set()
        assert finished.wait(30)
        for thread in threads:
            thread.join(30)
    assert len(threads) == 1 and not threads[0].is_alive(), "the reaper's thread ends"
    assert caplog.records == []


def test_a_store_that_fails_while_open_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    calls, failed_twice = 0, threading.Event()

    def reclaim(limit: int) -> float | None:
        nonlocal calls
        calls += 1
        if calls >= 2:
            failed_twice.set()
        raise StoreUnavailable("the store is down")

    reaper = Reaper(reclaim, idle=0.001)
    with caplog.at_level(logging.INFO, logger="app.stores.waking"):
        reaper.start()
        assert failed_twice.wait(30)
        reaper.close()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "cannot reclaim expired leases: the store is down"
    ]
