"""`Client.watch` against real gunicorn servers: replay then live, a drop with no gap or
repeat, refusals and streams ended in error with their codes, and closing."""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from objmgr_client import Client, Event, EventWatch, ObjmgrError

from tests.conditions import poll_until, wait_until
from tests.live.support import LiveServer, free_port
from tests.support.journals import trimmed_journal

pytestmark = pytest.mark.live

WAIT = 20.0


class Collector:
    """A watch read by a thread of its own, so that the test can act while it blocks."""

    def __init__(self, watch: EventWatch) -> None:
        self.watch = watch
        self.events: queue.Queue[Event] = queue.Queue()
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._read, name="watch-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for event in self.watch:
                self.events.put(event)
        except BaseException as error:
            self.error = error
        finally:
            self.ended.set()

    def take(self, count: int) -> list[Event]:
        return [self.events.get(timeout=WAIT) for _ in range(count)]

    def close(self) -> None:
        self.watch.close()
        self._thread.join(WAIT)


@pytest.fixture
def collect() -> Iterator[list[Collector]]:
    made: list[Collector] = []
    yield made
    for collector in made:
        collector.close()


def _journal(client: Client, pool: str) -> list[int]:
    return [event.seq for event in client.events(pool, 0, 1000)]


def test_replays_after_a_seq_then_gives_each_new_event(client: Client, pool: str) -> None:
    held = client.acquire(pool, owner="w-1", label="replayed")
    client.free(held.obj, pool)
    created, granted, freed = client.events(pool)

    with client.watch(pool, after=created.seq) as watch:
        assert [event.kind for event in (next(watch), next(watch))] == ["GRANTED", "FREED"]
        assert watch.after == freed.seq
        live = client.acquire(pool, owner="w-2", ttl=30)
        event = next(watch)
        assert (event.kind, event.obj, event.token, event.owner) == (
            "GRANTED",
            live.obj,
            live.token,
            "w-2",
        )
        assert event.seq > freed.seq and event.pool == pool
        assert granted.label == "replayed"


def test_after_none_gives_only_what_is_committed_from_now_on(client: Client, pool: str) -> None:
    client.acquire(pool)
    with client.watch(pool) as watch:
        # The stream is open when watch() returns: a change after that is the first it gives.
        resized = client.resize_pool(pool, 7)
        first = next(watch)
        assert (first.kind, first.size) == ("POOL_RESIZED", resized.size)


def test_a_killed_worker_loses_and_repeats_nothing(
    client: Client, pool: str, server: LiveServer, collect: list[Collector]
) -> None:
    collector = Collector(client.watch(pool, after=0))
    collect.append(collector)
    for _ in range(2):
        client.free(client.acquire(pool).obj, pool)
    before = [event.seq for event in collector.take(5)]

    # Whichever worker serves the stream goes: the client opens it again on another.
    for worker in server.workers():
        server.kill_worker(worker)
    wait_until(lambda: len(server.workers()) == 2, WAIT, "gunicorn to fork new workers")
    for _ in range(3):
        client.free(client.acquire(pool).obj, pool)

    journal = _journal(client, pool)
    after = [event.seq for event in collector.take(len(journal) - len(before))]
    assert before + after == journal
    assert collector.error is None, collector.error
    assert collector.watch.connections >= 2
    assert collector.events.empty()


def test_a_graceful_stop_ends_the_stream_with_shutting_down_and_it_resumes(
    client: Client, pool: str, server: LiveServer, collect: list[Collector]
) -> None:
    # Room for both workers' replacements to start while the watch tries again.
    collector = Collector(client.watch(pool, after=0, attempts=10))
    collect.append(collector)
    before = [event.seq for event in collector.take(1)]
    workers = server.workers()

    # SIGTERM, as a restart sends: the worker tells its streams SHUTTING_DOWN and exits.
    for worker in workers:
        os.kill(worker, signal.SIGTERM)
    wait_until(lambda: len(set(server.workers()) - set(workers)) == 2, WAIT, "two new workers")
    client.free(client.acquire(pool).obj, pool)

    journal = _journal(client, pool)
    after = [event.seq for event in collector.take(len(journal) - len(before))]
    assert before + after == journal
    assert collector.error is None, collector.error
    assert collector.watch.connections >= 2


def test_close_ends_a_blocked_iteration_and_hangs_up(
    client: Client, pool: str, server: LiveServer, collect: list[Collector]
) -> None:
    collector = Collector(client.watch(pool, after=0))
    collect.append(collector)
    collector.take(1)
    assert _connections_to(server.port) == 1

    collector.watch.close()

    assert collector.ended.wait(WAIT), "the reading thread was still blocked"
    assert collector.error is None, collector.error
    assert poll_until(lambda: _connections_to(server.port) == 0, WAIT)
    assert list(collector.watch) == [], "a closed watch gives nothing more"


def test_refusals_raise_their_code(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_TOKENS": "ops:ops-secret", "OBJMGR_ADMINS": "ops"})
    for token in (None, "wrong"):
        with pytest.raises(ObjmgrError) as refused:
            Client(url, token=token).watch()
        assert (refused.value.code, refused.value.status) == ("UNAUTHENTICATED", 401)
    with Client(url, token="ops-secret").watch(after=0) as watch:
        assert next(watch).kind == "POOL_CREATED"


def test_a_replay_of_trimmed_events_ends_with_events_trimmed(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_EVENTS_KEEP": "3"})
    client = Client(url)
    kept = trimmed_journal(client, "trimmed")

    with pytest.raises(ObjmgrError) as ended, client.watch("trimmed", after=0) as watch:
        next(watch)  # the stream opens, then ends: the server tells why in the stream
    assert ended.value.code == "EVENTS_TRIMMED" and ended.value.message
    with client.watch("trimmed", after=kept[0].seq - 1) as watch:
        assert next(watch).seq == kept[0].seq, "what is still kept replays"


def test_a_server_away_is_unreachable_after_the_attempts() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}", retry_delay=0.01)
    with pytest.raises(ObjmgrError) as away:
        client.watch("default", after=0, attempts=3)
    assert away.value.code == "UNREACHABLE" and away.value.retryable
    assert "(3 attempts)" in away.value.message
    with pytest.raises(ValueError, match="attempts"):
        client.watch(attempts=0)


def _connections_to(port: int) -> int:
    """This process's TCP connections to 127.0.0.1:`port` that are established."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    wanted = f"0100007F:{port:04X}"
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        # local, remote, state (01: ESTABLISHED) ... inode
        if fields[2] == wanted and fields[3] == "01" and fields[9] in inodes:
            count += 1
    return count
