"""The admin of a fault run: revokes leases while the clients run, and reads back
from the journal every revocation the store made.

The revokes' own answers can be lost like any other (a worker killed, the
store restarting), while the leases they revoked ended all the same. The
journal is the store's own record, written in the step of each revocation
(rule R9): its REVOKED events, each at the revocation's instant on the
server's clock (the clock every process here reads), are what the checker is
given. Every revocation an answer listed must be among them.
"""

from __future__ import annotations

import random
import time
from datetime import datetime
from typing import Any

import requests
from objmgr_client.operations import EVENTS, REVOKE

from ..history import History, Revocation
from .workload import Workload

REASON = "fault run"
# Tries of one journal page after the run, while the servers may still be recovering.
ATTEMPTS = 50


class Admin:
    """Sends `workload.revokes` revokes, each with one filter: one or two objects,
    an owner, or one client's labels."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.rng = random.Random(f"{workload.seed}/admin")
        self.session = requests.Session()
        self.history = History()

    def run(self, start: Any) -> History:
        start.wait(timeout=30)
        try:
            for _ in range(self.workload.revokes):
                time.sleep(self.workload.revoke_every * self.rng.uniform(0.5, 1.5))
                self._revoke()
        finally:
            self.session.close()
        return self.history

    def _filter(self) -> dict[str, Any]:
        workload = self.workload
        shape = self.rng.random()
        if shape < 0.6:
            picks = self.rng.sample(range(1, workload.pool_size + 1), self.rng.randint(1, 2))
            return {"objs": picks}
        if shape < 0.8 and workload.owners:
            return {"owner": f"team-{self.rng.randrange(workload.owners)}"}
        return {"labelPrefix": f"client-{self.rng.randrange(workload.clients)}#"}

    def _revoke(self) -> None:
        workload = self.workload
        url = self.rng.choice(workload.urls)
        variables = {"pool": workload.pool, "reason": REASON, **self._filter()}
        t_sent = time.time()
        try:
            response = self.session.post(
                f"{url}/graphql",
                json={"query": REVOKE, "variables": variables},
                timeout=workload.http_timeout,
            )
            payload = response.json()["data"]["revokeLeases"]
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            self.history.count(f"revoke:unknown:{type(error).__name__}")
            return
        t_ack = time.time()
        if not payload["success"]:
            self.history.count(f"revoke:{payload['code']}")
            if payload["code"] not in ("STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"):
                self.history.count(f"unexpected:revoke:{payload['code']}")
            return
        self.history.count("revoke:ok")
        for lease in payload["revoked"]:
            self.history.count("revoke:lease")
            self.history.revocations.append(
                Revocation(workload.pool, lease["obj"], int(lease["token"]), t_sent, t_ack)
            )


def journal_revocations(url: str, pool: str, timeout: float = 10.0) -> list[Revocation]:
    """Every REVOKED event the journal kept of `pool`, as revocations at their instant."""
    found: list[Revocation] = []
    after = 0
    with requests.Session() as session:
        while True:
            events = _events(session, url, pool, after, timeout)
            if not events:
                return found
            for event in events:
                if event["kind"] == "REVOKED":
                    at = datetime.fromisoformat(event["at"]).timestamp()
                    found.append(Revocation(pool, event["obj"], int(event["token"]), at, at))
            after = int(events[-1]["seq"])


def _events(
    session: requests.Session, url: str, pool: str, after: int, timeout: float
) -> list[dict[str, Any]]:
    """One page of the journal, asked again while a server just hit is coming back."""
    variables: dict[str, Any] = {"pool": pool, "after": after, "first": 1000}
    for _ in range(ATTEMPTS):
        try:
            response = session.post(
                f"{url}/graphql", json={"query": EVENTS, "variables": variables}, timeout=timeout
            )
            events: list[dict[str, Any]] = response.json()["data"]["events"]
            return events
        except (requests.RequestException, ValueError, KeyError, TypeError):
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered the journal of {pool!r}")


def journaled(history: History, journal: list[Revocation]) -> History:
    """`history` with the journal's revocations; an answered one the journal lacks
    is counted as unexpected."""
    kept = {(revoked.pool, revoked.token) for revoked in journal}
    missing = [r for r in history.revocations if (r.pool, r.token) not in kept]
    for _ in missing:
        history.count("unexpected:revoke:not-journaled")
    history.revocations = list(journal)
    return history
