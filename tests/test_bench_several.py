"""bench/several.py's storage part, at a scale a test can afford: with `reuseFirst` a
pool under churn keeps what is held at its peak, and without it every object ever freed."""

from __future__ import annotations

from pathlib import Path

from app.pool.policy import PoolPolicy
from app.stores import open_store
from bench.several import PEAK, churn, sqlite_rows

CYCLES = 500


def test_churn_keeps_the_peak_with_reuse_first_and_every_freed_object_without(
    tmp_path: Path,
) -> None:
    path = tmp_path / "churn.sqlite3"
    store = open_store(f"sqlite:///{path}")
    try:
        for name, reuse_first in (("fresh", False), ("reuse", True)):
            store.create_pool(name, 2_000_000_000, policy=PoolPolicy(reuse_first=reuse_first))
            churn(store, name, CYCLES)
        assert sqlite_rows(path, "reuse") == PEAK
        # every object freed is kept (and the runs they make)
        assert sqlite_rows(path, "fresh") >= PEAK + CYCLES
        held = store.pool("reuse")
        assert held is not None and held.in_use == PEAK
    finally:
        store.close()
