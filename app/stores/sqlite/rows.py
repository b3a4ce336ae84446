"""A pool's row of the SQLite store: its size, counters, fresh order and policy."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, NamedTuple

from ...pool.errors import pool_not_found
from ...pool.policy import NO_POLICY, PoolPolicy

POOL_COLUMNS = (
    "size",
    "next_fresh",
    "held",
    "held_above",
    "waiting",
    "cooling",
    "cooling_above",
    "next_skip",
    "skip_top",
    "default_ttl",
    "max_ttl",
    "max_per_owner",
    "reuse_delay",
    "reuse_first",
    "description",
)
POLICY_COLUMNS = POOL_COLUMNS[-6:]
_SELECT_POOL = f"SELECT {', '.join(POOL_COLUMNS)} FROM pools WHERE name = ?"


class PoolRow(NamedTuple):
    size: int
    next_fresh: int
    held: int
    held_above: int
    waiting: int
    cooling: int = 0
    cooling_above: int = 0
    # The lowest skipped object (None: none), and the highest ever skipped (rule R11).
    next_skip: int | None = None
    skip_top: int = 0
    policy: PoolPolicy = NO_POLICY

    @property
    def tail(self) -> int:
        """The lowest object from which every object up has never been used."""
        return max(self.next_fresh, self.skip_top + 1)


_NO_RULES = (None, None, None, None, 0, None)


def as_pool_row(values: Sequence[Any]) -> PoolRow:
    """A row of `POOL_COLUMNS`, in their order."""
    rules = tuple(values[9:15])
    policy = (
        NO_POLICY
        if rules == _NO_RULES
        else PoolPolicy(rules[0], rules[1], rules[2], rules[3], bool(rules[4]), rules[5])
    )
    return PoolRow._make((*values[:9], policy))


def policy_values(policy: PoolPolicy) -> tuple[object, ...]:
    """The values of `POLICY_COLUMNS` for `policy`."""
    return (
        policy.default_ttl,
        policy.max_ttl,
        policy.max_per_owner,
        policy.reuse_delay,
        int(policy.reuse_first),
        policy.description,
    )


def find_pool_row(conn: sqlite3.Connection, pool: str) -> PoolRow | None:
    row = conn.execute(_SELECT_POOL, (pool,)).fetchone()
    return None if row is None else as_pool_row(row)


def pool_row(conn: sqlite3.Connection, pool: str) -> PoolRow:
    row = find_pool_row(conn, pool)
    if row is None:
        raise pool_not_found(pool)
    return row
