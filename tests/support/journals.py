"""A pool whose journal the server has trimmed, for the tests of replays that would skip
trimmed events (a server started with a small OBJMGR_EVENTS_KEEP)."""

from __future__ import annotations

from objmgr_client import Client, Event

MOST_CHANGES = 500


def trimmed_journal(client: Client, pool: str) -> list[Event]:
    """Create `pool` and change it until its first event is no longer kept; what is kept.

    The server trims in batches, every so many events: this changes the pool until it has.
    """
    client.create_pool(pool, 1)
    for _ in range(MOST_CHANGES):
        kept = client.events(pool, 0, 1000)
        if kept[0].seq > 1:
            return kept
        client.free(client.acquire(pool).obj, pool)
    raise AssertionError(
        f"the journal of {pool!r} kept its first event over {MOST_CHANGES} changes"
    )
