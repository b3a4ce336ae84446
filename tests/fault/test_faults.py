"""At most one holder per object and ever-growing tokens, under real faults.

Client processes load real gunicorn servers (tests/fault/driver.py) while a
fault strikes: workers killed with SIGKILL, a second host crashing, Redis
killed and started again from its append-only file. The clients take single
objects, sets (contiguous or not) and named objects, sharing owners of a pool
with a maxPerOwner; one of them waits for big sets, and an admin revokes
leases meanwhile. What the clients saw, with the revocations the journal
kept, is then checked (tests/history/); every check is one a correct server
passes whatever the timing, so a failure here is a bug of the service.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from objmgr_client.operations import CREATE_POOL, LEASES, SET_POLICY

from ..history import History, LeaseRecord
from ..live.support import GraphQL, LiveServer, wait_until
from ..support.redis_server import RedisServer
from .admin import journal_revocations, journaled
from .driver import Load, Workload, strike

pytestmark = pytest.mark.live

ServerFactory = Callable[[], LiveServer]

POOL_SIZE = 8
MIN_LEASES = 50
# Leases requested after the (last) fault: the service went on granting.
MIN_AFTER_FAULT = 10
RECOVERY_BOUND = 60.0
KILL_EVERY = 0.5
# The pool's maxPerOwner, shared by the clients' owners (two clients each).
MAX_PER_OWNER = 3
OWNERS = 4
BIG_SET = 5
# Leases each client is granted however long a fault stalled the pool: 8 clients
# of 10 make a run check well over MIN_LEASES.
MIN_LEASES_EACH = 10
# Long enough for every test's faults (two Redis restarts a second apart); the
# lease counts above do the rest.
RUN_FOR = 3.0

# gunicorn's words for a worker we killed, Redis's for a machine not tuned for
# it: expected, not findings.
EXPECTED_LOG = re.compile(
    r"was sent SIGKILL|Booting worker|Memory overcommit must be enabled"
    r"|level=INFO logger=gunicorn\.error"
)
UNAVAILABLE = re.compile(r"\w+:(unknown|STORE_UNAVAILABLE|OUTCOME_UNKNOWN)")
# Access log lines end in the status: any 4xx or 5xx is worth a look.
SUSPICIOUS_LOG = re.compile(r'Traceback|Exception|Error|CRITICAL|WARNING|" [45]\d\d ', re.I)


def new_seed() -> int:
    return random.SystemRandom().randrange(2**32)


def workload(urls: tuple[str, ...], seed: int, **overrides: Any) -> Workload:
    """Issue 12's mix: sets, named objects, owners sharing a quota, a big waiter and
    an admin revoking, besides the single leases of before."""
    return Workload(
        urls=urls,
        seed=seed,
        owners=OWNERS,
        sets=0.2,
        named=0.1,
        pool_size=POOL_SIZE,
        big=BIG_SET,
        big_wait=1.0,
        revokes=15,
        min_leases=MIN_LEASES_EACH,
        duration=RUN_FOR,
        # Refusals count as requests too, and a stalled pool refuses many.
        max_ops=1000,
        **overrides,
    )


def with_policy(server: LiveServer) -> None:
    """The default pool's quota, in force through the run."""
    policy = {"maxPerOwner": MAX_PER_OWNER}
    answer = server.client().data(SET_POLICY, {"name": "default", "policy": policy})
    assert answer["setPoolPolicy"]["success"], answer


def journaled_history(history: History, server: LiveServer) -> History:
    """The run's history with the journal's revocations and the pool's quota."""
    history = journaled(history, journal_revocations(server.base_url, "default"))
    history.max_per_owner["default"] = MAX_PER_OWNER
    return history


def verify(history: History, directory: Path, seed: int) -> None:
    """The checker finds nothing, and the run exercised enough to mean something."""
    dump = directory / "history.json"
    history.dump(dump)
    violations = history.check()
    assert not violations, f"seed {seed}, history in {dump}\n{history.report(violations)}"
    unexpected = {key: n for key, n in history.outcomes.items() if key.startswith("unexpected:")}
    assert not unexpected, f"seed {seed}: answers no client should get: {unexpected}"
    completed = len(history.ended("freed")) + len(history.ended("expired"))
    assert completed >= MIN_LEASES, f"seed {seed}: only {completed} leases went full circle"
    assert history.ended("freed") and history.ended("expired"), "both ends should be seen"
    assert any(record.set_id for record in history.records), f"seed {seed}: no set granted"
    assert history.revocations, f"seed {seed}: nothing revoked"


def listing(client: GraphQL, pool: str, timeout: float = 10.0) -> tuple[list[Any], float, float]:
    """The leases of `pool` and when the query that read them was sent and answered.

    Tried until the store answers again, as after a Redis restart; the times
    are those of the attempt that succeeded.
    """
    deadline = time.monotonic() + timeout
    while True:
        t_sent = time.time()
        try:
            body, status = client.post(LEASES, {"name": pool, "first": 1000})
        except requests.RequestException:
            body, status = {}, 0
        t_ack = time.time()
        if status == 200 and not body.get("errors"):
            return body["data"]["pool"]["leases"], t_sent, t_ack
        assert time.monotonic() < deadline, f"no listing of {pool!r}: {status} {body}"
        time.sleep(0.02)


def check_listing(history: History, client: GraphQL, pool: str = "default") -> int:
    """A listing read now agrees with the history; returns how many leases it vouched for."""
    leases, t_sent, t_ack = listing(client, pool)
    found = history.check_snapshot(
        pool, [(lease["obj"], int(lease["token"])) for lease in leases], t_sent, t_ack
    )
    assert not found, history.report(found)
    return len(history.valid_through(pool, t_sent, t_ack))


def log_findings(*servers: LiveServer | RedisServer) -> list[str]:
    """Lines of the servers' logs that look like trouble, beyond the kills we made."""
    found = []
    for server in servers:
        directory = server.datadir if isinstance(server, RedisServer) else server.directory
        for log in sorted(directory.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if SUSPICIOUS_LOG.search(line) and not EXPECTED_LOG.search(line):
                    found.append(f"{log.parent.name}/{log.name}: {line}")
    return found


def summary(name: str, history: History, faults: int, started: float, *servers: Any) -> None:
    outcomes = ", ".join(f"{key}={n}" for key, n in sorted(history.outcomes.items()))
    resolved, _ = history.resolved()
    ends = {end: len(resolved.ended(end)) for end in ("freed", "expired", "unknown", "revoked")}
    sets = len({record.set_id for record in history.records if record.set_id})
    queued = len({record.set_id for record in history.records if record.t_queued})
    findings = log_findings(*servers)
    print(
        f"\n[{name}] {len(history.records)} leases {ends}, {sets} sets ({queued} big "
        f"waiters shown queued), {len(history.revocations)} revoked, {faults} faults, "
        f"{time.monotonic() - started:.1f}s\n  outcomes: {outcomes}\n"
        f"  log findings: {len(findings)}"
    )
    for line in findings[:20]:
        print(f"    {line}")


def worker_killer(
    servers: list[LiveServer], rng: random.Random, struck: list[float]
) -> Callable[[], bool]:
    """A fault: SIGKILL a random worker of a random server; `struck` gets the times."""

    def kill_one() -> bool:
        server = rng.choice(servers)
        workers = server.workers() if server.process and server.process.poll() is None else []
        if not workers:
            return False
        struck.append(time.time())
        server.kill_worker(rng.choice(workers))
        return True

    return kill_one


def granted_after(history: History, moment: float) -> int:
    return sum(record.t_sent > moment for record in history.records)


def assert_served_after(history: History, moment: float, servers: list[LiveServer]) -> None:
    """The service granted again after the fault at `moment`: within the run, or, when
    a loaded host left too little of the run after it, on every server once asked
    again (a bound on the wait, not on how fast it came back)."""
    if granted_after(history, moment) >= MIN_AFTER_FAULT:
        return
    for server in servers:
        wait_until(
            functools.partial(_grants, server), RECOVERY_BOUND, f"{server.base_url} to grant again"
        )


def _grants(server: LiveServer) -> bool:
    try:
        answer = server.acquire_once(ttl=1.0, label="after the run")
    except (requests.RequestException, AssertionError):
        return False
    return bool(answer.get("success"))


def redis_hosts(make: ServerFactory, redis: RedisServer, hosts: int) -> list[LiveServer]:
    servers = [make() for _ in range(hosts)]
    for server in servers:
        server.start(
            {
                "OBJMGR_STORE": redis.url,
                "OBJMGR_WORKERS": "2",
                "OBJMGR_POOL_SIZE": str(POOL_SIZE),
            }
        )
    return servers


def test_sqlite_with_workers_killed(live_servers: ServerFactory, tmp_path: Path) -> None:
    started, seed = time.monotonic(), new_seed()
    server = live_servers()
    server.start({"OBJMGR_WORKERS": "3", "OBJMGR_POOL_SIZE": str(POOL_SIZE)})
    rng = random.Random(seed)
    struck: list[float] = []

    with_policy(server)

    with Load(workload((server.base_url,), seed)) as load:
        load.start()
        kills = strike(load, KILL_EVERY, worker_killer([server], rng, struck), rng)
        history = journaled_history(load.join(), server)

    summary("sqlite, workers killed", history, kills, started, server)
    verify(history, tmp_path, seed)
    assert kills >= 2
    assert_served_after(history, struck[1], [server])
    # The master replaced every worker killed and serves as before.
    wait_until(lambda: len(server.workers()) == 3, 10, "3 workers again")
    check_listing(history, server.client())


def test_redis_with_two_hosts(
    live_servers: ServerFactory, own_redis: RedisServer, tmp_path: Path
) -> None:
    started, seed = time.monotonic(), new_seed()
    first, second = servers = redis_hosts(live_servers, own_redis, 2)
    rng = random.Random(seed)
    struck: list[float] = []
    kill_worker = worker_killer(servers, rng, struck)
    crashed: list[float] = []

    with_policy(first)

    with Load(workload((first.base_url, second.base_url), seed)) as load:

        def fault() -> bool:
            # Once, early, a whole host goes down and comes back, as after a crash.
            if not crashed and load.elapsed() > load.workload.duration / 4:
                crashed.append(time.time())
                second.kill9()
                second.restart()
                return True
            return kill_worker()

        load.start()
        faults = strike(load, KILL_EVERY, fault, rng)
        history = journaled_history(load.join(), first)

    summary("redis, two hosts", history, faults, started, *servers, own_redis)
    verify(history, tmp_path, seed)
    assert len(crashed) == 1 and faults >= 3
    assert_served_after(history, crashed[0], servers)
    # Both hosts served, and each reads the state the other wrote.
    for server in servers:
        assert history.outcomes[f"answered-by:{server.base_url}"] >= MIN_LEASES
        check_listing(history, server.client())


def test_redis_restarted_mid_run(
    live_servers: ServerFactory, own_redis: RedisServer, tmp_path: Path
) -> None:
    started, seed = time.monotonic(), new_seed()
    servers = redis_hosts(live_servers, own_redis, 2)
    admin = servers[0].client()
    assert admin.data(CREATE_POOL, {"name": "sentinel", "size": 4})["createPool"]["success"]
    # Leases nobody touches during the run: one for ever, one for long.
    sentinels = [
        admin.acquire(pool="sentinel", owner="sentinel", ttl=ttl)["lease"] for ttl in (None, 120)
    ]
    rng = random.Random(seed)
    # Longer leases than elsewhere, so that some outlive the outage and can be looked for.
    urls = tuple(server.base_url for server in servers)
    with_policy(servers[0])
    mix = workload(urls, seed, ttl=(0.8, 1.6), expire=0.08)
    snapshots: list[tuple[list[Any], float, float, float]] = []

    def restart_redis() -> bool:
        if len(snapshots) >= 2:
            return False
        killed_at = time.time()
        own_redis.kill()
        time.sleep(rng.uniform(0.1, 0.3))
        own_redis.start()
        # At once, before the leases of before the kill run out.
        leases, t_sent, t_ack = listing(servers[len(snapshots) % 2].client(), "default")
        snapshots.append((leases, t_sent, t_ack, killed_at))
        return True

    with Load(mix) as load:
        load.start()
        restarts = strike(load, 1.0, restart_redis, rng)
        history = journaled_history(load.join(), servers[0])

    summary("redis restarted", history, restarts, started, *servers, own_redis)
    verify(history, tmp_path, seed)
    assert restarts == 2
    assert_served_after(history, snapshots[-1][2], servers)
    felt = sum(n for key, n in history.outcomes.items() if UNAVAILABLE.match(key))
    assert felt, "the clients should have felt the outage"
    # What was acknowledged before a kill and not over yet was there right after it.
    vouched: list[LeaseRecord] = []
    for leases, t_sent, t_ack, killed_at in snapshots:
        found = history.check_snapshot(
            "default", [(lease["obj"], int(lease["token"])) for lease in leases], t_sent, t_ack
        )
        assert not found, history.report(found)
        vouched += history.valid_through("default", killed_at, t_ack)
    print(f"  leases from before a kill found after it: {len(vouched)}")
    assert admin.leases("sentinel") == sentinels
    check_listing(history, servers[1].client())
