"""The peer users would pick instead of objmgr: etcd, one member, over its JSON gateway.

The benchmark starts Debian's `etcd` (package etcd-server) on free loopback ports, client and
peer, with its data dir in the scratch directory and etcd's own durability as it comes (its
WAL is fsynced before a write is answered), and stops it by its pid at the end. What it
measures, with the same wrk threads, connections and duration as objmgr's requests:

    POST /v3/lease/grant  {"TTL": 3600}                        a lease grant
    POST /v3/kv/txn       compare create_revision == 0 of a fresh key,
                          success: put it with a lease         a put-if-absent txn

Every txn puts a key never used before (bench/wrk_etcd.lua counts them), so each succeeds as
the grant of a free slot would; they all carry one lease granted before the runs. A fresh
slot in etcd needs both requests, a grant and a txn: the report gives that pair's rate too.
Afterwards the bench counts the keys etcd holds under the runs' prefix and its leases, and
checks them against the txns and grants wrk saw answered.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ports import free_port
from tests.support.processes import alive, cpu_seconds, spawn, stop_group

from .wrk import BenchError, Scenario, WrkResult, wrk_result

LUA_SCRIPT = Path(__file__).resolve().with_name("wrk_etcd.lua")
KEY_PREFIX = "objmgr-bench/"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
TXN_LEASE_TTL = 3600  # outlives any run: the keys stay until the bench counts them

GRANT = Scenario("grant", "POST lease grant", "POST", "/v3/lease/grant", r'"ID":%s*"%d+"')
TXN = Scenario("txn", "POST put-if-absent txn", "POST", "/v3/kv/txn", r'"succeeded":%s*true')
SCENARIOS = (GRANT, TXN)


@dataclass
class EtcdPeer:
    """A running etcd member and what the bench has asked of it."""

    url: str  # the client URL
    pid: int
    version: str
    data_dir: Path
    txn_lease: str  # the lease ID every txn's put carries
    runs: int = 0  # wrk runs so far, each with a key prefix of its own
    warmup: dict[str, int] = field(default_factory=dict)  # expected answers in warm-ups

    def cpu_seconds(self) -> float | None:
        return cpu_seconds(None, (self.pid,))

    def run(self, scenario: Scenario, args: argparse.Namespace, seconds: int) -> WrkResult:
        self.runs += 1
        return run_wrk(self, scenario, args, seconds, f"{KEY_PREFIX}{self.runs}/")

    def keys_held(self) -> int:
        """How many keys etcd holds under every run's prefix."""
        answer = post_json(
            self.url + "/v3/kv/range",
            {"key": b64(KEY_PREFIX), "range_end": b64(prefix_end(KEY_PREFIX)), "count_only": True},
        )
        return int(str(answer.get("count", 0)))

    def leases_held(self) -> int:
        answer = post_json(self.url + "/v3/lease/leases", {}, timeout=30.0)
        leases = answer.get("leases", [])
        return len(leases) if isinstance(leases, list) else 0


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def prefix_end(prefix: str) -> str:
    """The range end that covers every key starting with `prefix` (its last byte plus one)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def post_json(url: str, body: dict[str, object], timeout: float = 5.0) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except (OSError, ValueError) as error:
        raise BenchError(f"etcd {url}: {error}") from None
    if not isinstance(answer, dict):
        raise BenchError(f"etcd {url}: answered {answer!r}")
    return answer


def get_json(url: str, timeout: float = 2.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            answer = json.load(response)
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) else None


def etcd_command(executable: str, data_dir: Path, client: str, peer: str) -> list[str]:
    return [
        executable,
        "--name",
        "bench",
        "--data-dir",
        str(data_dir),
        "--listen-client-urls",
        client,
        "--advertise-client-urls",
        client,
        "--listen-peer-urls",
        peer,
        "--initial-advertise-peer-urls",
        peer,
        "--initial-cluster",
        f"bench={peer}",
        "--initial-cluster-state",
        "new",
        "--logger",
        "zap",
        "--log-outputs",
        "stderr",
    ]


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    """Until etcd answers /health true (a leader elected), bounded in time and count."""
    deadline = time.monotonic() + START_TIMEOUT
    for _ in range(int(START_TIMEOUT / 0.05) + 1):
        if process.poll() is not None:
            break
        answer = get_json(url + "/health")
        if answer is not None and answer.get("health") == "true":
            return
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise BenchError(f"etcd did not become healthy on {url}:\n{tail}")


@contextlib.contextmanager
def etcd_peer(scratch: Path) -> Iterator[EtcdPeer]:
    """One etcd member of the bench's own for the length of the context."""
    executable = shutil.which("etcd")
    if executable is None:
        raise BenchError("etcd is not installed: `make system-deps` (apt-get install etcd-server)")
    client = f"http://127.0.0.1:{free_port()}"
    peer = f"http://127.0.0.1:{free_port()}"
    data_dir = scratch / "etcd-data"
    log = scratch / "etcd.log"
    # The operator's own ETCD_* settings would override the flags: none reach the bench's etcd.
    env = {name: value for name, value in os.environ.items() if not name.startswith("ETCD")}
    process = spawn(etcd_command(executable, data_dir, client, peer), scratch, env, log)
    try:
        wait_until_healthy(process, client, log)
        version = get_json(client + "/version") or {}
        lease = post_json(client + "/v3/lease/grant", {"TTL": TXN_LEASE_TTL})
        yield EtcdPeer(
            url=client,
            pid=process.pid,
            version=str(version.get("etcdserver", "?")),
            data_dir=data_dir,
            txn_lease=str(lease["ID"]),
        )
    finally:
        stop_group(process, signal.SIGTERM, STOP_TIMEOUT)
        if alive(process.pid):
            raise BenchError(f"etcd pid {process.pid} did not stop")


def run_wrk(
    peer: EtcdPeer, scenario: Scenario, args: argparse.Namespace, seconds: int, prefix: str
) -> WrkResult:
    env = {
        **os.environ,
        "BENCH_OP": scenario.key,
        "BENCH_PREFIX": prefix,
        "BENCH_LEASE": peer.txn_lease,
        "BENCH_EXPECT": scenario.expect,
    }
    return WrkResult(**wrk_result(LUA_SCRIPT, peer.url + scenario.path, args, seconds, env))


def pair_rps(grant: float, txn: float) -> float:
    """Fresh slots a second if each took a grant and a txn, one after the other, on the
    same server: the two requests' times per request add up."""
    return 1 / (1 / grant + 1 / txn) if grant and txn else 0.0
