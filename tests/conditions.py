"""Waiting for a condition in tests: on the condition itself, bounded in count and time."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL = 0.02


def poll_until(predicate: Callable[[], bool], timeout: float) -> bool:
    """Whether `predicate` came true within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / POLL) + 2):
        if predicate():
            return True
        if time.monotonic() > deadline:
            break
        time.sleep(POLL)
    return False


def wait_until(
    predicate: Callable[[], bool], timeout: float = 10.0, what: str = "the condition"
) -> None:
    if not poll_until(predicate, timeout):
        raise AssertionError(f"gave up after {timeout:g}s waiting for {what}")
