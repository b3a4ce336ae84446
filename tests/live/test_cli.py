"""The `objmgr` command against a real server: output, refusals and exit statuses."""

from __future__ import annotations

import itertools
import json
import os
import queue
import signal
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from .cli_runner import Cli
from .support import GraphQL, LiveServer, free_port

pytestmark = pytest.mark.live

OBJMGR = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "objmgr"
_names = itertools.count()


@pytest.fixture
def cli(server: LiveServer) -> Cli:
    return Cli(server.base_url)


@pytest.fixture
def pool(cli: Cli) -> str:
    name = f"cli-{next(_names)}"
    assert cli.ok("create-pool", name, "3") == f"created pool {name!r} of 3 objects\n"
    return name


def test_acquire_lease_renew_free(cli: Cli, pool: str) -> None:
    text = cli.ok("acquire", "--pool", pool, "--owner", "ci-7", "--label", "job 42", "--ttl", "60")
    assert text.startswith(f"acquired object 1 of pool {pool!r}\n")
    assert "  owner:    ci-7\n" in text and "  label:    job 42\n" in text

    # --json after the command or before it.
    second = cli.json("acquire", "--pool", pool, "--request-id", "r-7", "--wait", "1")
    assert cli.json("acquire", "--pool", pool, "--request-id", "r-7") == {
        **second,
        "replayed": True,
    }
    assert set(second) == {
        "pool",
        "obj",
        "owner",
        "label",
        "token",
        "acquiredAt",
        "expiresAt",
        "ttl",
        "requestId",
        "replayed",
    }
    assert second["obj"] == 2 and second["expiresAt"] is None and second["ttl"] is None
    assert (second["requestId"], second["replayed"]) == ("r-7", False)
    again = json.loads(cli.ok("acquire", "--pool", pool, "--json"))
    assert again["obj"] == 3

    shown = cli.json("lease", "1", "--pool", pool)
    assert (shown["owner"], shown["label"]) == ("ci-7", "job 42")
    assert f"object 1 of pool {pool!r} is held" in cli.ok("lease", "1", "--pool", pool)
    renewed = cli.json("renew", "1", "--token", str(shown["token"]), "--pool", pool, "--ttl", "300")
    assert renewed["token"] == shown["token"] and renewed["expiresAt"] > shown["expiresAt"]
    assert cli.ok("renew", "1", "--token", str(shown["token"]), "--pool", pool).startswith(
        f"renewed object 1 of pool {pool!r}\n"
    )

    freed = cli.ok("free", "1", "--pool", pool, "--token", str(shown["token"]))
    assert freed == f"freed object 1 of pool {pool!r}\n"
    assert cli.json("free", "2", "--pool", pool) == {"pool": pool, "obj": 2}
    assert cli.ok("lease", "1", "--pool", pool) == f"object 1 of pool {pool!r} is free\n"
    assert cli.json("lease", "1", "--pool", pool) is None


def test_refusals_print_their_code_and_exit_1(cli: Cli, pool: str) -> None:
    assert cli.refused("free", "3", "--pool", pool) == (
        f"NOT_ALLOCATED: object 3 of pool {pool!r} is not held"
    )
    assert cli.refused("free", "9", "--pool", pool).startswith("OUT_OF_RANGE: ")
    held = cli.json("acquire", "--pool", pool)
    stale = str(held["token"] + 1)
    assert cli.refused("renew", "1", "--token", stale, "--pool", pool).startswith("STALE_TOKEN: ")
    assert cli.refused("free", "1", "--token", stale, "--pool", pool).startswith("STALE_TOKEN: ")
    assert cli.refused("delete-pool", pool).startswith("POOL_IN_USE: ")
    assert cli.refused("create-pool", pool, "3").startswith("POOL_EXISTS: ")
    assert cli.refused("resize-pool", "no-such-pool", "3").startswith("POOL_NOT_FOUND: ")
    assert cli.refused("acquire", "--pool", pool, "--ttl", "0").startswith("BAD_USER_INPUT: ")
    assert cli.refused("--json", "pool", "no-such-pool").startswith("POOL_NOT_FOUND: ")
    for _ in range(2):
        cli.ok("acquire", "--pool", pool)
    assert cli.refused("acquire", "--pool", pool).startswith("POOL_EXHAUSTED: ")
    assert cli.refused("acquire", "--pool", pool, "--wait", "0.2").startswith("ACQUIRE_TIMEOUT: ")


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert "Missing argument 'OBJ'" in cli.refused("free", status=2)
    assert "Missing option '--token'" in cli.refused("renew", "1", status=2)
    assert "'x' is not a valid integer" in cli.refused("create-pool", "p", "x", status=2)
    assert "not an http:// or https:// URL" in cli.refused(
        "--url", "localhost:5000", "pools", status=2
    )


def test_pools_and_pool_administration(cli: Cli, pool: str) -> None:
    table = cli.ok("pools").splitlines()
    assert table[0].split() == ["NAME", "SIZE", "IN", "USE", "AVAILABLE", "WAITING", "COOLING"]
    assert [pool, "3", "0", "3", "0", "0"] in [line.split() for line in table[1:]]
    listed = {entry["name"]: entry for entry in cli.json("pools")}
    no_rules = {
        "defaultTtl": None,
        "maxTtl": None,
        "maxPerOwner": None,
        "reuseDelay": None,
        "reuseFirst": False,
        "description": None,
    }
    assert listed[pool] == {
        "name": pool,
        "size": 3,
        "available": 3,
        "inUse": 0,
        "waiting": 0,
        "cooling": 0,
        "policy": no_rules,
    }

    held = cli.json("acquire", "--pool", pool, "--label", "for the listing")
    shown = cli.json("pool", pool)
    assert shown["inUse"] == 1 and [lease["obj"] for lease in shown["leases"]] == [held["obj"]]
    assert "label for the listing" in cli.ok("pool", pool)

    assert cli.json("resize-pool", pool, "10")["size"] == 10
    assert cli.ok("resize-pool", pool, "1") == f"resized pool {pool!r} to 1 object (1 in use)\n"
    assert cli.ok("delete-pool", pool, "--force") == f"deleted pool {pool!r}\n"
    assert pool not in {entry["name"] for entry in cli.json("pools")}
    other = f"cli-{next(_names)}"
    assert cli.json("create-pool", other, "2")["size"] == 2
    assert cli.json("delete-pool", other)["name"] == other
    assert cli.ok("server-version") == "1.0.0\n"


def test_unreachable_server_exits_3() -> None:
    cli = Cli(f"http://127.0.0.1:{free_port()}")
    assert cli.refused("pools", status=3).startswith("UNREACHABLE: ")
    assert cli.refused("--url", "http://127.0.0.1:1", "acquire", status=3).startswith(
        "UNREACHABLE: "
    )


def test_tokens_from_the_option_or_the_environment(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_TOKENS": "ops:ops-secret", "OBJMGR_ADMINS": "ops"})
    anonymous = Cli(url)
    assert anonymous.refused("pools").startswith("UNAUTHENTICATED: ")
    assert anonymous.json("--token", "ops-secret", "acquire")["owner"] == "ops"
    assert Cli(url, token="ops-secret").json("create-pool", "ops-pool", "2")["size"] == 2
    assert Cli(url, token="nope").refused("pools").startswith("UNAUTHENTICATED: ")


def test_the_installed_console_script(server: LiveServer) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OBJMGR_")},
        "OBJMGR_URL": server.base_url,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(OBJMGR), *args], env=env, capture_output=True, text=True, timeout=60
        )

    name = f"cli-{next(_names)}"
    assert run("create-pool", name, "1").returncode == 0
    acquired = run("acquire", "--pool", name, "--json")
    assert acquired.returncode == 0 and json.loads(acquired.stdout)["obj"] == 1
    refused = run("acquire", "--pool", name)
    assert refused.returncode == 1 and refused.stderr.startswith("POOL_EXHAUSTED: ")
    assert run("free", "1", "--pool", name).returncode == 0
    assert run("serve", "--help").returncode == 0, "serve is still there"
    assert run("--url", "http://127.0.0.1:1", "pools").returncode == 3


def test_events_print_the_journal_a_line_per_event(cli: Cli, pool: str) -> None:
    held = cli.json("acquire", "--pool", pool, "--owner", "ci-7", "--label", "job 42")
    cli.ok("free", str(held["obj"]), "--pool", pool)

    lines = cli.ok("events", "--pool", pool).splitlines()

    assert [line.split()[2:] for line in lines] == [
        ["POOL_CREATED", "size=3"],
        ["GRANTED", "obj=1", f"token={held['token']}", "owner=ci-7", 'label="job', '42"'],
        ["FREED", "obj=1", f"token={held['token']}", "owner=ci-7", 'label="job', '42"'],
    ]
    seqs = [int(line.split()[0]) for line in lines]
    assert seqs == sorted(set(seqs))
    acquired = datetime.fromisoformat(held["acquiredAt"])
    assert lines[1].split()[1] == acquired.isoformat(timespec="milliseconds")

    as_json = [json.loads(line) for line in cli.ok("--json", "events", "--pool", pool).splitlines()]
    assert [event["seq"] for event in as_json] == seqs
    assert as_json[1] == {
        "seq": seqs[1],
        "pool": pool,
        "kind": "GRANTED",
        "at": held["acquiredAt"],
        "obj": 1,
        "token": held["token"],
        "owner": "ci-7",
        "label": "job 42",
        "principal": None,
        "reason": None,
        "size": None,
        "expiresAt": None,
    }
    after_first = cli.ok("events", "--pool", pool, "--after", str(seqs[0]), "--first", "1")
    assert after_first.splitlines() == lines[1:2]
    assert cli.ok("events", "--pool", f"{pool}-never-made") == ""
    assert "1001 is not in the range" in cli.refused("events", "--first", "1001", status=2)


def _lines_of(process: subprocess.Popen[str]) -> queue.Queue[str]:
    """The process's stdout, a line at a time, as it writes them."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def _next_lines(lines: queue.Queue[str], count: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    return [lines.get(timeout=max(0.0, deadline - time.monotonic())) for _ in range(count)]


def test_follow_prints_new_events_until_ctrl_c_which_exits_0(server: LiveServer) -> None:
    name = f"cli-{next(_names)}"
    graphql = GraphQL(server.base_url)
    assert Cli(server.base_url).ok("create-pool", name, "2")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJMGR_")}
    follow = ["events", "--pool", name, "--follow", "--interval", "0.1"]
    process = subprocess.Popen(
        [str(OBJMGR), "--url", server.base_url, *follow],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches it as SIGINT even where the test run itself ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = _lines_of(process)
        (created,) = _next_lines(lines, 1)
        assert created.split()[2:] == ["POOL_CREATED", "size=2"]

        lease = graphql.acquire(pool=name, owner="follower-test")["lease"]
        graphql.free(lease["obj"], pool=name)
        granted, freed = _next_lines(lines, 2)
        assert granted.split()[2:5] == ["GRANTED", "obj=1", f"token={lease['token']}"]
        assert freed.split()[2:4] == ["FREED", "obj=1"]
        assert int(created.split()[0]) < int(granted.split()[0]) < int(freed.split()[0])

        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=20) == 0
        assert process.stderr is not None and process.stderr.read() == ""
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        graphql.close()
