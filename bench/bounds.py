"""What the limits on every request cost, side by side in one run.

    make bench-bounds      # or: .venv/bin/python -m bench.bounds [--stores sqlite,redis]

Prints, one part after another in the same run on the same machine:

1. parse + validate + cost of the largest documents the limits accept against
   a small one (`document_limits.py`);
2. for each store: acquire latency p50/p99/max during a burst of 100,000
   expiries against none (target: max < 50 ms), `pool { inUse }` at 10^3
   against 10^6 held (target: ratio < 1.5), idle CPU of 1,000 waiters on a
   live gunicorn against none (target: < 5% of a core), and the hand-off to
   1,000 waiters (target: p99 < 50 ms) (`sqlite_bounds.py`, `redis_bounds.py`).

Everything runs on loopback; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse

from . import document_limits, redis_bounds, sqlite_bounds

STORES = {"sqlite": lambda: sqlite_bounds.main(), "redis": lambda: redis_bounds.main([])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,redis", help="comma-separated: sqlite,redis")
    args = parser.parse_args(argv)
    stores = [name for name in args.stores.split(",") if name]
    unknown = set(stores) - set(STORES)
    if unknown:
        parser.error(f"unknown stores: {', '.join(sorted(unknown))}")
    print("== documents: parse + validate + cost")
    document_limits.main([])
    failed = 0
    for name in stores:
        print(f"\n== the {name} store")
        failed |= STORES[name]()
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
