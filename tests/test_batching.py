"""The leader/follower batcher on its own, with real threads: every job runs
once and its caller gets its own outcome, and concurrent jobs share batches.

No timing is asserted: concurrency is forced by gates the executor waits on,
and every wait is bounded so that a bug fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from app.stores.batching import Batch, Batcher

WAIT = 10.0  # seconds; only ever reached when something is broken
THREADS = 16
ROUNDS = 25
FAILS_ITS_BATCH = 10**9


class Refused(Exception):
    pass


class Recorder:
    """An executor that records its batches and answers `work * 10`; work
    that is negative gets its own error, FAILS_ITS_BATCH fails its batch."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.lock = threading.Lock()

    def __call__(self, batch: Batch[int]) -> None:
        jobs = batch.take()
        with self.lock:
            self.batches.append([job.work for job in jobs])
        if any(job.work == FAILS_ITS_BATCH for job in jobs):
            raise Refused("batch")
        for job in jobs:
            if job.work < 0:
                job.error = Refused(job.work)
            else:
                job.result = job.work * 10


def run_threads(count: int, target: Callable[[int], None]) -> None:
    errors: list[BaseException] = []

    def guarded(number: int) -> None:
        try:
            target(number)
        except BaseException as error:  # reported below, in the test's own thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads), "a submitter never returned"
    assert not errors, errors


class Gated:
    """`executor`, whose first leader waits until `arrivals` more jobs queued
    behind its own, so that its batch surely takes them all."""

    def __init__(self, executor: Callable[[Batch[int]], None], arrivals: int) -> None:
        self.executor = executor
        self.arrivals = arrivals
        self.leading = threading.Event()  # set once the first leader runs

    def __call__(self, batch: Batch[int]) -> None:
        if not self.leading.is_set():
            self.leading.set()
            wait_for_queue(batch, self.arrivals + 1)
        self.executor(batch)


def wait_for_queue(batch: Batch[int], length: int) -> None:
    """Until `length` jobs are queued (the leader's own included), or WAIT."""
    pause = threading.Event()
    for _ in range(int(WAIT / 0.001)):
        # The queue is the batcher's own; only a test has reason to look at it.
        if len(batch._queue) >= length:
            return
        pause.wait(0.001)


def test_every_submitter_gets_its_own_result_and_each_job_runs_once() -> None:
    recorder = Recorder()
    batcher: Batcher[int] = Batcher(recorder)
    results: dict[int, list[Any]] = {}

    def submitter(number: int) -> None:
        works = [number * 1000 + round_no for round_no in range(ROUNDS)]
        results[number] = [batcher.submit(work) for work in works]

    run_threads(THREADS, submitter)

    for number in range(THREADS):
        assert results[number] == [(number * 1000 + r) * 10 for r in range(ROUNDS)]
    ran = Counter(work for batch in recorder.batches for work in batch)
    assert len(ran) == THREADS * ROUNDS and set(ran.values()) == {1}


def test_concurrent_jobs_share_batches() -> None:
    recorder = Recorder()
    batcher: Batcher[int] = Batcher(Gated(recorder, THREADS - 1))
    results: dict[int, Any] = {}
    started = threading.Barrier(THREADS, timeout=WAIT)

    def submitter(number: int) -> None:
        started.wait()
        results[number] = batcher.submit(number)

    run_threads(THREADS, submitter)

    assert results == {n: n * 10 for n in range(THREADS)}
    assert len(recorder.batches) < THREADS
    assert max(len(batch) for batch in recorder.batches) > 1
    assert sorted(work for batch in recorder.batches for work in batch) == list(range(THREADS))


def test_a_jobs_own_error_reaches_its_caller_only() -> None:
    recorder = Recorder()
    batcher: Batcher[int] = Batcher(Gated(recorder, THREADS - 1))
    outcomes: dict[int, Any] = {}
    started = threading.Barrier(THREADS, timeout=WAIT)

    def submitter(number: int) -> None:
        work = -number if number % 3 == 0 and number else number
        started.wait()
        try:
            outcomes[number] = batcher.submit(work)
        except Refused as error:
            outcomes[number] = error

    run_threads(THREADS, submitter)

    assert any(min(batch) < 0 < max(batch) for batch in recorder.batches)
    for number, outcome in outcomes.items():
        if number % 3 == 0 and number:
            assert isinstance(outcome, Refused) and outcome.args == (-number,)
        else:
            assert outcome == number * 10
    assert len(outcomes) == THREADS


def test_a_batch_failure_reaches_every_job_of_that_batch_and_no_other() -> None:
    recorder = Recorder()
    gate = Gated(recorder, THREADS - 1)
    batcher: Batcher[int] = Batcher(gate)
    outcomes: dict[int, Any] = {}

    def submitter(number: int) -> None:
        work = FAILS_ITS_BATCH if number == 0 else number
        if work == FAILS_ITS_BATCH:
            # Not the first leader, so it lands in the batch of many.
            assert gate.leading.wait(WAIT)
        try:
            outcomes[work] = batcher.submit(work)
        except Refused as error:
            outcomes[work] = error

    run_threads(THREADS, submitter)

    failed = next(batch for batch in recorder.batches if FAILS_ITS_BATCH in batch)
    assert len(failed) > 1 and len(recorder.batches) < THREADS
    for batch in recorder.batches:
        for work in batch:
            if batch is failed:
                assert isinstance(outcomes[work], Refused) and outcomes[work].args == ("batch",)
            else:
                assert outcomes[work] == work * 10
    assert len(outcomes) == THREADS


def test_a_failure_before_taking_fails_the_leaders_job_alone() -> None:
    calls = 0
    leading = threading.Event()
    follower_got: list[Any] = []

    def executor(batch: Batch[int]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            # The follower queues behind the leader, then the leader fails
            # before it took anything.
            leading.set()
            wait_for_queue(batch, 2)
            raise Refused("before taking")
        for job in batch.take():
            job.result = job.work

    batcher: Batcher[int] = Batcher(executor)

    def follower() -> None:
        assert leading.wait(WAIT)
        follower_got.append(batcher.submit(2))

    thread = threading.Thread(target=follower)
    thread.start()
    with pytest.raises(Refused):
        batcher.submit(1)
    thread.join(WAIT)
    assert not thread.is_alive()
    assert follower_got == [2]
    assert batcher.submit(3) == 3
    assert calls == 3


def test_an_executor_that_takes_nothing_fails_its_leader_but_not_the_batcher() -> None:
    def lazy(batch: Batch[int]) -> None:
        pass

    batcher: Batcher[int] = Batcher(lazy)
    with pytest.raises(RuntimeError, match="without taking"):
        batcher.submit(1)
    with pytest.raises(RuntimeError, match="without taking"):
        batcher.submit(2)
