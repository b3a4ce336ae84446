"""Client processes that load a lease service while faults strike it, recording a `History`.

Each client is a process of its own (fork) with its own connections, running a
bounded loop: acquire an object of a small pool with a short TTL (or a set of
them, contiguous or not, or one named object), hold it a few milliseconds, now
and then renew it, then free it with its token, or walk away and let it
expire, or hold it past its expiry and try a late free. Clients may share
owners, so that the pool's maxPerOwner is contended across processes, workers
and hosts. One client may be a big waiter: it asks for many objects with
`wait` and proves it was queued (`queueing.py`). An admin process may revoke
leases meanwhile (`admin.py`). Every request is timed with `time.time()` on
both sides (see tests/history/records.py for why that clock) and every lease
the client learnt of becomes a `LeaseRecord`.

Requests are never retried: a request whose answer was lost may have taken
effect, and the history must say "unknown" rather than guess.
"""

from __future__ import annotations

import multiprocessing
import queue
import random
import time
import traceback
from collections.abc import Callable
from typing import Any

import requests
from objmgr_client.operations import ACQUIRE, ACQUIRE_MANY, FREE, RENEW

from ..history import History, LeaseRecord, Renewal, merge
from .admin import Admin
from .queueing import queued_acquire
from .workload import (
    EXPECTED_REFUSALS,
    GONE,
    UNKNOWN_OUTCOMES,
    Answer,
    ClientLease,
    Workload,
    timestamp,
)

__all__ = ["Client", "Load", "Workload", "strike"]


class Client:
    """One client's loop; `run` returns what it saw."""

    def __init__(self, workload: Workload, index: int) -> None:
        self.workload = workload
        self.name = f"client-{index}"
        self.big = workload.big if index == 0 else 0
        self.owner: str | None = f"team-{index % workload.owners}" if workload.owners else self.name
        if self.big:
            # No quota for the big waiter: its sets may be larger than maxPerOwner.
            self.owner = None
        self.rng = random.Random(f"{workload.seed}/{index}")
        self.sessions = {url: requests.Session() for url in workload.urls}
        self.history = History()
        self.ops = 0
        self.deadline = 0.0
        self.last_call = 0.0
        self.leases = 0
        self.granted = 0

    def run(self, start: Any) -> History:
        start.wait(timeout=30)
        self.deadline = time.monotonic() + self.workload.duration
        self.last_call = time.monotonic() + self.workload.max_duration
        try:
            while self._more():
                self._cycle()
        finally:
            for session in self.sessions.values():
                session.close()
        return self.history

    def _more(self) -> bool:
        now = time.monotonic()
        if self.ops >= self.workload.max_ops:
            return False
        if now < self.deadline:
            return True
        return self.granted < self.workload.min_leases and now < self.last_call

    def _post(
        self,
        operation: str,
        query: str,
        variables: dict[str, Any],
        session: requests.Session | None = None,
        url: str | None = None,
    ) -> Answer:
        """The payload of a mutation, None when its outcome is unknown (counted as such)."""
        self.ops += 1
        url = url or self.rng.choice(self.workload.urls)
        t_sent = time.time()
        try:
            response = (session or self.sessions[url]).post(
                f"{url}/graphql",
                json={"query": query, "variables": variables},
                timeout=self.workload.http_timeout,
            )
            body = response.json()
        except (requests.RequestException, ValueError) as error:
            self.history.count(f"{operation}:unknown:{type(error).__name__}")
            self._pause()
            return Answer(None, t_sent, time.time())
        t_ack = time.time()
        if response.status_code != 200 or body.get("errors") or not body.get("data"):
            # Not a network fault: a finding, and its outcome is unknown all the same.
            self.history.count(f"{operation}:unknown:http-{response.status_code}")
            return Answer(None, t_sent, t_ack)
        self.history.count(f"answered-by:{url}")
        payload: dict[str, Any] = next(iter(body["data"].values()))
        if payload["success"]:
            self.history.count(f"{operation}:ok")
            return Answer(payload, t_sent, t_ack)
        code = payload["code"]
        self.history.count(f"{operation}:{code}")
        if code not in EXPECTED_REFUSALS:
            self.history.count(f"unexpected:{operation}:{code}")
        self._pause()
        return Answer(None if code in UNKNOWN_OUTCOMES else payload, t_sent, t_ack)

    def _pause(self) -> None:
        # Between tries while the service is down or the pool exhausted, so
        # that they do not turn into a busy loop that starves the servers.
        time.sleep(self.rng.uniform(0.005, 0.02))

    def _hold(self) -> None:
        time.sleep(self.rng.uniform(*self.workload.hold))

    def _ttl(self) -> float:
        return round(self.rng.uniform(*self.workload.ttl), 3)

    def _cycle(self) -> None:
        self.leases += 1
        leases = self._acquire()
        self.granted += bool(leases)
        for lease in leases:
            self._use(lease)

    def _acquire(self) -> list[ClientLease]:
        """One acquire of the shape this cycle draws: its leases, [] when refused."""
        workload = self.workload
        label = f"{self.name}#{self.leases}"
        variables: dict[str, Any] = {
            "pool": workload.pool,
            "owner": self.owner,
            "label": label,
            "ttl": self._ttl(),
            "wait": workload.wait,
        }
        shape = self.rng.random()
        if self.big:
            variables.update(count=self.big, contiguous=self._contiguous(), wait=workload.big_wait)
            answer, t_queued = queued_acquire(self, variables)
            return self._granted("acquire-big", answer, variables, label, t_queued)
        if shape < workload.sets:
            count = self.rng.randint(*workload.set_sizes)
            variables.update(count=count, contiguous=self._contiguous())
            answer = self._post("acquire-set", ACQUIRE_MANY, variables)
            return self._granted("acquire-set", answer, variables, label)
        if shape < workload.sets + workload.named:
            variables["obj"] = self.rng.randint(1, workload.pool_size)
            return self._granted("acquire-named", self._post("acquire-named", ACQUIRE, variables))
        return self._granted("acquire", self._post("acquire", ACQUIRE, variables))

    def _contiguous(self) -> bool:
        return self.rng.random() < self.workload.contiguous

    def _granted(
        self,
        operation: str,
        answer: Answer,
        variables: dict[str, Any] | None = None,
        label: str | None = None,
        t_queued: float | None = None,
    ) -> list[ClientLease]:
        payload, t_sent, t_ack = answer
        if payload is None or not payload["success"]:
            return []
        many = "leases" in payload
        granted = payload["leases"] if many else [payload["lease"]]
        count = len(granted)
        if many and variables is not None and count != variables["count"]:
            self.history.count(f"unexpected:{operation}:{count}-of-{variables['count']}")
        return [
            ClientLease(
                lease["obj"],
                int(lease["token"]),
                t_sent,
                t_ack,
                timestamp(lease["expiresAt"]),
                acquired_at=timestamp(lease["acquiredAt"]),
                set_id=label if many else None,
                set_size=variables["count"] if many and variables else 1,
                contiguous=bool(many and variables and variables["contiguous"]),
                t_queued=t_queued,
            )
            for lease in granted
        ]

    def _use(self, lease: ClientLease) -> None:
        """Hold the lease, renew it now and then, and end it one of the workload's ways."""
        workload = self.workload
        self._hold()
        while self.rng.random() < workload.renew:
            if not self._renew(lease):
                return
            self._hold()
        chance = self.rng.random()
        if chance < workload.expire:
            self._record(lease, "expired")
            return
        expires_at = lease.expires_at
        if chance < workload.expire + workload.late and expires_at is not None:
            late = expires_at + self.rng.uniform(0.001, 0.02) - time.time()
            if time.monotonic() + late < self.deadline:
                time.sleep(max(0.0, late))
        self._free(lease)

    def _renew(self, lease: ClientLease) -> bool:
        """Renew the lease; False when it ended (and was recorded)."""
        ttl = self._ttl()
        payload, t_sent, t_ack = self._post(
            "renew",
            RENEW,
            {"pool": self.workload.pool, "obj": lease.obj, "token": lease.token, "ttl": ttl},
        )
        if payload is None:
            # It may have been renewed, to an expiry later or earlier than the
            # one acknowledged: the lease's end is unknown from here on.
            self._record(lease, "unknown", lost_renewal_floor=t_sent + ttl)
            return False
        if not payload["success"]:
            self._record(lease, "expired" if payload["code"] in GONE else "unknown", refused=t_ack)
            return False
        renewed = payload["lease"]
        if int(renewed["token"]) != lease.token or renewed["obj"] != lease.obj:
            self.history.count("unexpected:renew:other-lease")
        expires_at = timestamp(renewed["expiresAt"])
        assert expires_at is not None, renewed
        lease.renewals.append(Renewal(t_sent, expires_at))
        return True

    def _free(self, lease: ClientLease) -> None:
        payload, t_sent, t_ack = self._post(
            "free", FREE, {"pool": self.workload.pool, "obj": lease.obj, "token": lease.token}
        )
        if payload is None:
            self._record(lease, "unknown", free_sent=t_sent)
        elif payload["success"]:
            self._record(lease, "freed", free_sent=t_sent, free_ack=t_ack)
        elif payload["code"] in GONE:
            self._record(lease, "expired", refused=t_ack)
        else:
            self._record(lease, "unknown", free_sent=t_sent)

    def _record(
        self,
        lease: ClientLease,
        end: Any,
        *,
        free_sent: float | None = None,
        free_ack: float | None = None,
        refused: float | None = None,
        lost_renewal_floor: float | None = None,
    ) -> None:
        self.history.add(
            LeaseRecord(
                pool=self.workload.pool,
                obj=lease.obj,
                token=lease.token,
                client=self.name,
                t_sent=lease.t_sent,
                t_ack=lease.t_ack,
                end=end,
                granted_expires_at=lease.granted_expires_at,
                renewals=tuple(lease.renewals),
                t_free_sent=free_sent,
                t_free_ack=free_ack,
                refused_at=refused,
                lost_renewal_floor=lost_renewal_floor,
                owner=self.owner,
                acquired_at=lease.acquired_at,
                set_id=lease.set_id,
                set_size=lease.set_size,
                contiguous=lease.contiguous,
                t_queued=lease.t_queued,
            )
        )


def _client_main(workload: Workload, index: int, start: Any, results: Any, done: Any) -> None:
    try:
        # The one index past the clients' is the admin's (`admin.py`).
        runner = Admin(workload) if index == workload.clients else Client(workload, index)
        history = runner.run(start)
    except BaseException:
        results.put((index, f"client {index} failed:\n{traceback.format_exc()}"))
        raise
    finally:
        with done.get_lock():
            done.value += 1
    results.put((index, history))


class Load:
    """The client processes of one workload: `start`, let faults strike, then `join`."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        # fork: the clients start at once with what the test imported already.
        self._context = multiprocessing.get_context("fork")
        processes = workload.clients + (1 if workload.revokes else 0)
        self._start = self._context.Barrier(processes + 1)
        self._results = self._context.Queue()
        self._done = self._context.Value("i", 0)
        self._processes = [
            self._context.Process(
                target=_client_main,
                args=(workload, index, self._start, self._results, self._done),
                name=f"client-{index}" if index < workload.clients else "admin",
                daemon=True,
            )
            for index in range(processes)
        ]
        self.started = 0.0

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *_exc: object) -> None:
        # A test that failed half way must not leave its clients loading the next one.
        self.stop()

    def start(self) -> None:
        """Fork the clients and return once they all began."""
        for process in self._processes:
            process.start()
        self._start.wait(timeout=30)
        self.started = time.monotonic()

    def finished(self) -> bool:
        return int(self._done.value) >= len(self._processes)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def join(self, timeout: float = 30.0) -> History:
        """Every client's history, merged; fails if a client failed or gave no report."""
        reports: dict[int, History] = {}
        failures: list[str] = []
        deadline = time.monotonic() + timeout
        try:
            # Read before joining: a process exits only once its report was read.
            while len(reports) + len(failures) < len(self._processes):
                try:
                    index, report = self._results.get(timeout=max(0.1, deadline - time.monotonic()))
                except queue.Empty:
                    failures.append(f"{len(self._processes) - len(reports)} clients gave no report")
                    break
                if isinstance(report, str):
                    failures.append(report)
                else:
                    reports[index] = report
        finally:
            self.stop(grace=5.0)
        if failures:
            raise AssertionError("\n".join(failures))
        return merge(reports[index] for index in sorted(reports))

    def stop(self, grace: float = 0.0) -> None:
        """End the clients: those still running after `grace` seconds are killed."""
        self._start.abort()
        for process in self._processes:
            if process.pid is None:
                continue
            process.join(timeout=grace)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)


def strike(load: Load, every: float, fault: Callable[[], bool], rng: random.Random) -> int:
    """Call `fault` every `every` seconds (give or take a fifth) until the clients finish.

    Returns how many times `fault` said it struck.
    """
    struck = 0
    while not load.finished():
        time.sleep(every * rng.uniform(0.8, 1.2))
        if load.finished():
            break
        if fault():
            struck += 1
    return struck
