"""This process's waiters on Redis: their tickets, session, wait room and listener.

A waiter joins a pool's queue under this process's session and waits in the
`WaitRoom`; the listener hands the room every pool a script names on the
channel, and the room asks `head` which ticket to wake. Waiters of a pool
deleted under them are woken one after the other, to find that out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..base import Ticket
from ..waking import WaitRoom
from . import replies, wire
from .model import MAX_STEPS
from .replies import Refused
from .target import RedisTarget
from .waiting import Listener, Session

Script = Callable[..., list[Any]]


class Queues:
    def __init__(self, target: RedisTarget, script: Script, run: Script) -> None:
        """`script(name, pool, *args)` runs a pool script as operations do
        (the default pool made first); `run` runs one as it is."""
        self._timeout = target.socket_timeout
        self._script = script
        self._run = run
        self.session = Session(target)
        # pool -> this process's tickets waiting in it, for pools gone under them.
        self._tickets: dict[str, set[int]] = {}
        self.room = WaitRoom(head=self._head)
        self.listener = Listener(target, self.room.changed, self._changed_everywhere)

    def join(self, pool: str) -> Ticket:
        session = self.session.current()
        self.listener.start()
        with wire.deadline(self._timeout):
            reply = self._script("join", pool, session)
        replies.check(reply, replies.JOIN, Refused(pool))
        ticket = Ticket(pool, int(reply[1]))
        self._tickets.setdefault(pool, set()).add(ticket.id)
        self.session.joined(pool)
        self.room.enter(ticket)
        return ticket

    def leave(self, ticket: Ticket) -> None:
        gone = self.forget(ticket)
        with wire.deadline(self._timeout):
            reply = self._script("leave", ticket.pool, str(ticket.id))
        replies.check(reply, replies.LEAVE, Refused(ticket.pool))
        if gone and self._tickets.get(ticket.pool):
            # Waiters of a deleted pool find out one after the other.
            self.room.changed(ticket.pool)

    def forget(self, ticket: Ticket) -> bool:
        """Drop a ticket of this process's; whether it was still known."""
        tickets = self._tickets.get(ticket.pool)
        if tickets is None or ticket.id not in tickets:
            return False
        tickets.discard(ticket.id)
        if not tickets:
            del self._tickets[ticket.pool]
        self.session.left(ticket.pool)
        self.room.leave(ticket)
        return True

    def _head(self, pool: str) -> int | None:
        """The live head of `pool`'s queue; for a pool that is gone, one of this
        process's waiters in it, woken to find that out."""
        # A deadline per step: each is a bounded script of its own.
        for _ in range(MAX_STEPS):
            with wire.deadline(self._timeout):
                reply = self._run("head", pool)
            if replies.text(reply[0]) == "POOL_NOT_FOUND":
                return min(self._tickets.get(pool) or (), default=None)
            replies.check(reply, replies.HEAD, Refused(pool))
            if int(reply[2]) == 0:
                break
        return int(reply[1]) if reply[1] else None

    def _changed_everywhere(self) -> None:
        for pool in self.room.waiting_pools():
            self.room.changed(pool)

    def close(self) -> None:
        self.listener.close()
        self.session.close()
        self.room.close()
