"""A pool's slot moved between the primaries of a real cluster while host processes
acquire and free on it: nothing acknowledged is lost, no object is held twice, tokens
strictly increase, and the only errors clients see are STORE_UNAVAILABLE (refused,
nothing changed). The history checker of tests/history judges the run.
"""

from __future__ import annotations

import functools
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pool.errors import OutcomeUnknown, PoolError, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller
from app.stores.redis import RedisStore

from .conditions import wait_until
from .history import History
from .history.records import LeaseRecord
from .support.redis_cluster import RedisCluster, launch_cluster

ROOT = Path(__file__).resolve().parent.parent
POOL = "resharded"
POOL_SIZE = 8
HOSTS = 2
#: Each host's bound: it stops at its stop file, or at this many acquires, or this many seconds.
MAX_ACQUIRES = 5000
MAX_SECONDS = 60.0
FREE_TRIES = 200
#: Acquires each host makes after each move, so that the load ran across it.
AFTER_MOVE = 60


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    with launch_cluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


def _free(store: RedisStore, record: dict[str, object], history: History) -> None:
    """Free a held lease, again after each refusal: a refused free changed nothing."""
    obj, token = int(str(record["obj"])), int(str(record["token"]))
    for _ in range(FREE_TRIES):
        record["t_free_sent"] = time.time()
        try:
            store.free(POOL, obj, Caller.auth_off(), token)
        except OutcomeUnknown:
            history.count("free:unknown")
            record["end"] = "unknown"
            return
        except StoreUnavailable:
            history.count("free:STORE_UNAVAILABLE")
            continue
        except PoolError as error:
            history.count(f"free:{error.code}")
            record["end"], record["refused_at"] = "expired", time.time()
            return
        history.count("free:ok")
        record["end"], record["t_free_ack"] = "freed", time.time()
        return
    record["end"] = "unknown"


def churn(url: str, name: str, folder: str) -> None:
    """A host: acquire and free on POOL until its stop file appears; the last lease it
    keeps. Writes a line to its progress file per acquire, and its history at the end."""
    out = Path(folder)
    stop = out / "stop"
    store = RedisStore(url)
    history = History()
    progress = (out / f"{name}.progress").open("a", buffering=1)
    held: dict[str, object] | None = None
    ends = time.monotonic() + MAX_SECONDS
    for _ in range(MAX_ACQUIRES):
        if stop.exists() or time.monotonic() > ends:
            break
        if held is not None:
            _free(store, held, history)
            history.add(LeaseRecord.from_json(held))
            held = None
        sent = time.time()
        try:
            request = AcquireRequest(pool=POOL, owner=name, request_id=uuid.uuid4().hex)
            lease = store.grant(request).leases[0]
        except OutcomeUnknown:
            history.count("acquire:unknown")
            continue
        except PoolError as error:
            history.count(f"acquire:{error.code}")
            continue
        history.count("acquire:ok")
        held = {
            "pool": POOL,
            "obj": lease.obj,
            "token": lease.token,
            "client": name,
            "t_sent": sent,
            "t_ack": time.time(),
            "end": "held",
            "owner": name,
        }
        progress.write(".\n")
    if held is not None:
        history.add(LeaseRecord.from_json(held))
    progress.close()
    store.close()
    history.dump(out / f"{name}.json")


HOST = """
import sys
from tests.test_redis_cluster_reshard import churn
churn(*sys.argv[1:])
"""


def acquires(folder: Path) -> list[int]:
    return [
        len(path.read_text()) // 2 if path.exists() else 0
        for path in (folder / f"host{index}.progress" for index in range(HOSTS))
    ]


def moved_on(folder: Path, counted: list[int]) -> bool:
    """Whether every host made AFTER_MOVE acquires since `counted`."""
    return all(
        now >= then + AFTER_MOVE for now, then in zip(acquires(folder), counted, strict=True)
    )


def test_a_pool_moved_between_primaries_under_load_loses_nothing(
    cluster: RedisCluster, tmp_path: Path
) -> None:
    cluster.flush()
    setup = RedisStore(cluster.url)
    setup.ensure_pool(POOL, POOL_SIZE)
    slot = cluster.slot_of(f"objmgr:{{pool:{POOL}}}:meta")
    first = cluster.node_serving(slot)
    hosts = [
        subprocess.Popen(
            [sys.executable, "-c", HOST, cluster.url, f"host{index}", str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"host{index}.err").open("wb"),
        )
        for index in range(HOSTS)
    ]
    try:
        wait_until(lambda: min(acquires(tmp_path)) >= AFTER_MOVE, 30, "the hosts' first leases")
        # Away and on to the third primary: each move with the load running across it.
        for target in [node for node in cluster.nodes if node is not first]:
            counted = acquires(tmp_path)
            cluster.move_slot(slot, target, between_keys=lambda: time.sleep(0.02))
            assert cluster.node_serving(slot) is target
            wait_until(
                functools.partial(moved_on, tmp_path, counted),
                30,
                "the hosts' leases after the move",
            )
    finally:
        (tmp_path / "stop").touch()
        for host in hosts:
            host.wait(MAX_SECONDS + 30)
    for index, host in enumerate(hosts):
        assert host.returncode == 0, (tmp_path / f"host{index}.err").read_text()

    history = History()
    for index in range(HOSTS):
        history.extend(History.load(tmp_path / f"host{index}.json"))
    violations = history.check()
    assert not violations, history.report(violations)
    failures = {
        outcome
        for outcome, count in history.outcomes.items()
        if count and not outcome.endswith(":ok")
    }
    assert failures <= {"acquire:STORE_UNAVAILABLE", "free:STORE_UNAVAILABLE"}, history.outcomes
    sent = time.time()
    listed = [(lease.obj, lease.token) for lease in setup.leases(POOL, 100, 0)]
    answered = time.time()
    violations = history.check_snapshot(POOL, listed, sent, answered)
    assert not violations, history.report(violations)
    # Exactly the leases the hosts still hold: no acquire refused on the way made one.
    assert sorted(listed) == sorted(
        (record.obj, record.token) for record in history.records if record.end == "held"
    )
    assert history.outcomes["acquire:ok"] >= HOSTS * AFTER_MOVE * 3
