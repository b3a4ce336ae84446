"""Where a pool's journal ends, found with the one read every store has.

A stream with `after` null starts after the pool's last event, and a
follower starts there too, so that subscribers replay what they asked for
at their own pace instead of having it pushed into their bounded buffers.
`Store.events(pool, after, 1)` answers the first event above any bound, so
a galloping search finds the last one in a number of reads that grows with
the logarithm of its seq, usually one when a follower's position is known.
"""

from __future__ import annotations

from ..stores.base import Store


def last_seq(store: Store, pool: str, known: int = 0) -> int:
    """The seq of the pool name's last event (0 when it has none).

    `known` is a seq no greater than the answer (a follower's position, or 0).
    Events committed meanwhile may make the answer stale by the time it is
    returned; a stream reading on from it still misses nothing, it only gets
    those events too. Raises `StoreUnavailable`.
    """
    low, high = known, None
    step = 1
    while high is None:
        # Invariant: an event at `low` exists, or low is `known`: the last seq >= low.
        found = store.events(pool, low + step - 1, 1)
        if not found:
            if step == 1:
                return low
            high = low + step - 1
        else:
            low = found[0].seq
            step *= 2
    # The last seq is in [low, high]: no event is above `high`.
    while low < high:
        middle = (low + high + 1) // 2
        found = store.events(pool, middle - 1, 1)
        if found:
            low = found[0].seq
            if low > high:  # committed during the search: as good an answer as any
                return low
        else:
            high = middle - 1
    return low
