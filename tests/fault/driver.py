"""Client processes that load a lease service while faults strike it, recording a `History`.

Each client is a process of its own (fork) with its own connections, running a
bounded loop: acquire an object of a small pool with a short TTL, hold it a
few milliseconds, now and then renew it, then free it with its token, or walk
away and let it expire, or hold it past its expiry and try a late free. Every
request is timed with `time.time()` on both sides (see tests/history.py for
why that clock) and every lease the client learnt of becomes a `LeaseRecord`.

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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

import requests
from objmgr_client.operations import ACQUIRE, FREE, RENEW

from ..history import History, LeaseRecord, Renewal, merge

# The answers that tell the holder its lease ended by itself (it expired).
GONE = ("NOT_ALLOCATED", "STALE_TOKEN")
# The answers a client of this workload may get; any other one is a finding.
EXPECTED_REFUSALS = frozenset(
    {"POOL_EXHAUSTED", "ACQUIRE_TIMEOUT", *GONE, "STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"}
)
# Answers after which the history cannot know whether the change was made.
UNKNOWN_OUTCOMES = frozenset({"STORE_UNAVAILABLE", "OUTCOME_UNKNOWN"})


@dataclass(frozen=True)
class Workload:
    """What the clients do; every probability is per lease."""

    urls: tuple[str, ...]
    clients: int = 8
    duration: float = 4.0
    max_ops: int = 300
    pool: str = "default"
    ttl: tuple[float, float] = (0.5, 1.0)
    hold: tuple[float, float] = (0.0, 0.05)
    # No waiting by default: a waiter whose worker is killed (or whose store
    # goes away) can stay at the head of the pool's queue until the store sees
    # its process gone (at once on SQLite, when its Redis session expires),
    # and nobody is granted anything meanwhile; with a fault every half
    # second the pool would hardly grant at all, and a run check little.
    wait: float = 0.0
    renew: float = 0.1
    expire: float = 0.04
    late: float = 0.02
    http_timeout: float = 3.0
    seed: int = 0


class Answer(NamedTuple):
    """A mutation's payload (None: outcome unknown), with when it was sent and answered.

    The times bracket the server's work as tightly as the client can: read
    right before the request leaves and right after its answer is in.
    """

    payload: dict[str, Any] | None
    t_sent: float
    t_ack: float


@dataclass
class _Lease:
    obj: int
    token: int
    t_sent: float
    t_ack: float
    granted_expires_at: float | None
    renewals: list[Renewal] = field(default_factory=list)

    @property
    def expires_at(self) -> float | None:
        return self.renewals[-1].expires_at if self.renewals else self.granted_expires_at


def _timestamp(value: str | None) -> float | None:
    return None if value is None else datetime.fromisoformat(value).timestamp()


class Client:
    """One client's loop; `run` returns what it saw."""

    def __init__(self, workload: Workload, index: int) -> None:
        self.workload = workload
        self.name = f"client-{index}"
        self.rng = random.Random(f"{workload.seed}/{index}")
        self.sessions = {url: requests.Session() for url in workload.urls}
        self.history = History()
        self.ops = 0
        self.deadline = 0.0
        self.leases = 0

    def run(self, start: Any) -> History:
        start.wait(timeout=30)
        self.deadline = time.monotonic() + self.workload.duration
        try:
            while self._more():
                self._cycle()
        finally:
            for session in self.sessions.values():
                session.close()
        return self.history

    def _more(self) -> bool:
        return self.ops < self.workload.max_ops and time.monotonic() < self.deadline

    def _post(self, operation: str, query: str, variables: dict[str, Any]) -> Answer:
        """The payload of a mutation, None when its outcome is unknown (counted as such)."""
        self.ops += 1
        url = self.rng.choice(self.workload.urls)
        t_sent = time.time()
        try:
            response = self.sessions[url].post(
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
        workload = self.workload
        self.leases += 1
        payload, t_sent, t_ack = self._post(
            "acquire",
            ACQUIRE,
            {
                "pool": workload.pool,
                "owner": self.name,
                "label": f"{self.name}#{self.leases}",
                "ttl": self._ttl(),
                "wait": workload.wait,
            },
        )
        if payload is None or not payload["success"]:
            return
        granted = payload["lease"]
        lease = _Lease(
            granted["obj"], int(granted["token"]), t_sent, t_ack, _timestamp(granted["expiresAt"])
        )
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

    def _renew(self, lease: _Lease) -> bool:
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
        expires_at = _timestamp(renewed["expiresAt"])
        assert expires_at is not None, renewed
        lease.renewals.append(Renewal(t_sent, expires_at))
        return True

    def _free(self, lease: _Lease) -> None:
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
        lease: _Lease,
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
            )
        )


def _client_main(workload: Workload, index: int, start: Any, results: Any, done: Any) -> None:
    try:
        history = Client(workload, index).run(start)
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
        self._start = self._context.Barrier(workload.clients + 1)
        self._results = self._context.Queue()
        self._done = self._context.Value("i", 0)
        self._processes = [
            self._context.Process(
                target=_client_main,
                args=(workload, index, self._start, self._results, self._done),
                name=f"client-{index}",
                daemon=True,
            )
            for index in range(workload.clients)
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
        return int(self._done.value) >= self.workload.clients

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
