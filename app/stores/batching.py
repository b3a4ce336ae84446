"""Leader/follower batching: the jobs of concurrent callers run together.

A caller submits a job and blocks until it is done. One caller at a time
leads: it runs every job queued by then, its own included, through the
executor it was given, then hands the lead to the oldest job that arrived
meanwhile, whose caller runs the next batch. No thread is started; the
callers do the work themselves, as greenlets under gevent or as plain threads.

Why: a store pays a fixed price per round (an fsync for SQLite, a network
round trip for Redis), and a batch pays it once for all of its jobs. Nothing
waits to fill a batch: a lone job runs at once, and a batch is whatever
arrived while the one before it ran.

The executor gets a `Batch` and must call `Batch.take` once, when it is ready
to run the jobs (the SQLite store holds its write lock by then, so the batch
also takes in everything that queued while it waited for the lock). It then
gives every job a result or an error. If the executor raises, every job it took
fails with that exception; if it raises before taking, the leader's own job
alone fails and the others stay queued for the next leader.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

W = TypeVar("W")


class Job(Generic[W]):
    __slots__ = ("done", "error", "leads", "result", "work")

    def __init__(self, work: W) -> None:
        self.work = work
        self.result: Any = None
        self.error: BaseException | None = None
        self.leads = False
        # Set when the job is finished, or when it is made the next leader.
        self.done = threading.Event()

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        return self.result


class Batch(Generic[W]):
    """The jobs one leader runs, taken from the queue by its executor."""

    __slots__ = ("_queue", "jobs", "taken")

    def __init__(self, queue: deque[Job[W]]) -> None:
        self._queue = queue
        self.jobs: list[Job[W]] = []
        self.taken = False

    def take(self) -> list[Job[W]]:
        # deque.popleft is atomic, so an executor on another native thread can
        # take jobs that greenlets or threads append meanwhile.
        while self._queue:
            self.jobs.append(self._queue.popleft())
        self.taken = True
        return self.jobs


class Batcher(Generic[W]):
    """Runs submitted jobs in batches through `execute`, one batch at a time."""

    def __init__(self, execute: Callable[[Batch[W]], None]) -> None:
        self._execute = execute
        self._reset()

    def _reset(self) -> None:
        self._queue: deque[Job[W]] = deque()
        self._lock = threading.Lock()
        self._leading = False
        self._pid = os.getpid()

    def submit(self, work: W) -> Any:
        """Run `work` in the next batch; its result, or its exception raised."""
        if self._pid != os.getpid():
            # A fork copies the queue and lead of threads that do not exist in
            # the child; waiting for them would wait forever.
            self._reset()
        job = Job(work)
        with self._lock:
            self._queue.append(job)
            job.leads = not self._leading
            self._leading = True
        if not job.leads:
            job.done.wait()
            if not job.leads:
                return job.outcome()
        # The leader first lets the callers that are ready to run reach the
        # queue too: a larger batch costs no more rounds.
        _let_others_run()
        batch = Batch(self._queue)
        try:
            self._execute(batch)
            if not batch.taken:
                raise RuntimeError("the batch executor returned without taking its jobs")
        except BaseException as error:
            # Before taking, only the leader's job (at the head) is failed by it.
            while self._queue and job not in batch.jobs:
                batch.jobs.append(self._queue.popleft())
            for queued in batch.jobs:
                queued.error = error
        with self._lock:
            if self._queue:
                self._queue[0].leads = True
                self._queue[0].done.set()
            else:
                self._leading = False
        for queued in batch.jobs:
            if queued is not job:
                queued.done.set()
        return job.outcome()


def _let_others_run() -> None:
    if gevent_patched():
        import gevent

        gevent.sleep(0)


def gevent_patched() -> bool:
    """Whether gevent replaced `threading`: callers are greenlets of one hub."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))
