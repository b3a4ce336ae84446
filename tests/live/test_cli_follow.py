"""`objmgr events --follow` on SSE against real servers: where it starts, --json, and the
codes and exit statuses of a follow refused or ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from objmgr_client import Client

from ..support.journals import trimmed_journal
from .cli_runner import Cli
from .support import GraphQL, LiveServer, free_port
from .test_cli import OBJMGR, _lines_of, _next_lines

pytestmark = pytest.mark.live


@contextmanager
def following(base_url: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """`objmgr --url base_url events --follow *args` running; its stderr read at the end
    into the list yielded with it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJMGR_")}
    process = subprocess.Popen(
        [str(OBJMGR), "--url", base_url, "events", "--follow", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C reaches it as SIGINT even where the test run itself ignores SIGINT.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    stderr: list[str] = []
    try:
        yield process, stderr
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        assert process.stderr is not None
        stderr.append(process.stderr.read())


def _stopped_cleanly(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=20) == 0, "Ctrl-C is how --follow ends: exit status 0"


def test_follow_after_a_seq_as_json_then_ctrl_c(server: LiveServer) -> None:
    graphql = GraphQL(server.base_url)
    cli = Cli(server.base_url)
    cli.ok("create-pool", "follow-json", "2")
    lease = graphql.acquire(pool="follow-json", owner="f-1")["lease"]
    created, granted = _json_lines(cli.ok("events", "--pool", "follow-json", "--json").splitlines())
    try:
        with following(
            server.base_url, "--json", "--pool", "follow-json", "--after", str(created["seq"])
        ) as (process, stderr):
            lines = _lines_of(process)
            assert json.loads(_next_lines(lines, 1)[0]) == granted
            graphql.free(lease["obj"], pool="follow-json")
            (freed,) = _json_lines(_next_lines(lines, 1))
            assert (freed["kind"], freed["obj"], freed["token"]) == (
                "FREED",
                lease["obj"],
                lease["token"],
            )
            _stopped_cleanly(process)
        assert stderr == [""]
    finally:
        graphql.close()


def test_follow_without_after_starts_at_what_the_journal_holds(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_EVENTS_KEEP": "3"})
    cli = Cli(url)
    kept = [event.seq for event in trimmed_journal(Client(url), "trimmed")]

    with following(url, "--pool", "trimmed") as (process, stderr):
        lines = _lines_of(process)
        assert [int(line.split()[0]) for line in _next_lines(lines, len(kept))] == kept
        cli.ok("acquire", "--pool", "trimmed")
        (granted,) = _next_lines(lines, 1)
        assert granted.split()[2:4] == ["GRANTED", "obj=1"] and int(granted.split()[0]) > kept[-1]
        _stopped_cleanly(process)
    assert stderr == [""]


def test_refusals_exit_with_their_code(live_server: LiveServer) -> None:
    url = live_server.start(
        {"OBJMGR_TOKENS": "ops:ops-secret", "OBJMGR_ADMINS": "ops", "OBJMGR_EVENTS_KEEP": "3"}
    )
    assert Cli(url).refused("events", "--follow").startswith("UNAUTHENTICATED: ")
    ops = Cli(url, token="ops-secret")
    trimmed_journal(Client(url, token="ops-secret"), "trimmed")
    assert ops.refused("events", "--pool", "trimmed", "--follow", "--after", "0").startswith(
        "EVENTS_TRIMMED: "
    )


def test_follow_of_a_server_away_exits_3() -> None:
    cli = Cli(f"http://127.0.0.1:{free_port()}")
    assert cli.refused("events", "--follow", "--after", "0", status=3).startswith("UNREACHABLE: ")


def _json_lines(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]
