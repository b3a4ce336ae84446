"""Where pools live. `open_store` picks one from an `OBJMGR_STORE` URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..logs.secrets import masked_url
from ..pool.events import DEFAULT_EVENTS_KEEP
from .base import Store, Ticket
from .redis_url import REDIS_SCHEMES

if TYPE_CHECKING:
    from .redis.topology import RedisOptions

SCHEMES = ("sqlite:///", *REDIS_SCHEMES, "memory://")


def open_store(
    url: str,
    default_pool: tuple[str, int] | None = None,
    events_keep: int = DEFAULT_EVENTS_KEEP,
    redis_options: RedisOptions | None = None,
) -> Store:
    """The store an `OBJMGR_STORE` URL names; its `open()` makes `default_pool`.

    The journal keeps at least `events_keep` events per pool (rule R9). A
    Redis store reaches Redis with `redis_options` (password, CA, replicas to
    wait for); the other stores have no use for them."""
    if url == "memory://":
        from .memory import MemoryStore

        return MemoryStore(default_pool=default_pool, events_keep=events_keep)
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(
            url.removeprefix("sqlite:///"), default_pool=default_pool, events_keep=events_keep
        )
    if url.startswith(REDIS_SCHEMES):
        from .redis import RedisStore

        return RedisStore(
            url, default_pool=default_pool, events_keep=events_keep, options=redis_options
        )
    raise ValueError(f"unknown store {masked_url(url)!r}: expected one of {', '.join(SCHEMES)}")


__all__ = ["Store", "Ticket", "open_store"]
