"""What the store tests share: callers of each role, and an acquire that waits in a thread."""

from __future__ import annotations

import threading

from app.pool.lease import Caller
from app.service import LeaseService

ANYONE = Caller.auth_off()
ALICE = Caller("alice", is_admin=False)
BOB = Caller("bob", is_admin=False)
ROOT = Caller("root", is_admin=True)


def take(service: LeaseService, count: int, pool: str = "default") -> list[int]:
    return [service.acquire(ANYONE, pool).obj for _ in range(count)]


class Waiter(threading.Thread):
    def __init__(
        self, service: LeaseService, wait: float, owner: str, pool: str = "default"
    ) -> None:
        super().__init__(daemon=True)
        self.service, self.wait, self.owner, self.pool = service, wait, owner, pool
        self.result: object = None

    def run(self) -> None:
        try:
            self.result = self.service.acquire(ANYONE, self.pool, owner=self.owner, wait=self.wait)
        except Exception as error:  # the test reads it
            self.result = error
