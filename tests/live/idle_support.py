"""What the idle-cost tests share: a server with room for every subscriber, and the
workers' share of a core over a quiet stretch."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..support.processes import cpu_seconds
from .support import LiveServer

# The contract's bar: an idle subscription costs nothing.
MAX_SHARE_OF_A_CORE = 0.05


def idle_server(directory: Path, subscribers: int) -> Iterator[LiveServer]:
    """Body of a `server` fixture: two workers, room for `subscribers` of the one
    anonymous principal (auth off)."""
    live = LiveServer(directory)
    try:
        live.start({"OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL": str(2 * subscribers)})
        yield live
    finally:
        live.close()


def assert_idle(
    workers: Sequence[int], quiet_stretch: Callable[[], bool], what: str, reason: str
) -> None:
    """The workers' CPU over `quiet_stretch` (which runs it and says whether it
    saw what it waited for, `reason`) is under the bar."""
    before = cpu_seconds(pids=workers)
    start = time.monotonic()
    assert quiet_stretch(), reason
    elapsed = time.monotonic() - start
    after = cpu_seconds(pids=workers)
    assert before is not None and after is not None, "/proc tells no CPU time"
    share = (after - before) / elapsed
    assert share < MAX_SHARE_OF_A_CORE, (
        f"the workers used {share:.1%} of a core over {elapsed:.1f}s with {what}"
    )
