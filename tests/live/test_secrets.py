"""Secrets on a live server: weak ones stop the start, a tokens file rotates on SIGHUP."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import requests

from ..deploy_files import ENV_EXAMPLE, parse_env_file
from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

EXAMPLE_TOKENS = parse_env_file(ENV_EXAMPLE.read_text())["OBJMGR_TOKENS"]
ALICE, BOB, ROOT = "alice-first-0123456789", "bob-first-0123456789", "root-first-0123456789"
SETTLE = 30.0
HOLD = "mutation { acquireObject(wait: 30) { success code lease { obj token } } }"


def _refused(live_server: LiveServer, env: dict[str, str], variable: str) -> str:
    live_server.spawn(env)
    assert live_server.wait_exit() == 2, live_server.output()
    message = live_server.stderr()
    assert variable in message, message
    return message


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        pytest.param(
            {"OBJMGR_ENV": "production", "OBJMGR_TOKENS": "admin:Qw7tiny"},
            "OBJMGR_TOKENS",
            id="short",
        ),
        pytest.param(
            {"OBJMGR_ENV": "production", "OBJMGR_TOKENS": EXAMPLE_TOKENS},
            "OBJMGR_TOKENS",
            id="the-example-placeholder",
        ),
        pytest.param(
            {"OBJMGR_TOKENS": f"alice:{ALICE},bob:{ALICE}"},
            "OBJMGR_TOKENS",
            id="shared-even-in-development",
        ),
    ],
)
def test_a_weak_secret_stops_the_start_naming_the_variable(
    live_server: LiveServer, env: dict[str, str], variable: str
) -> None:
    message = _refused(live_server, env, variable)
    secret = env["OBJMGR_TOKENS"].split(",")[0].split(":", 1)[1]
    assert secret not in message, "the secret is never logged"


def test_a_weak_secret_in_the_tokens_file_names_the_file(
    live_server: LiveServer, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"# operators\n{EXAMPLE_TOKENS}\n")
    env = {"OBJMGR_ENV": "production", "OBJMGR_TOKENS_FILE": str(tokens)}
    message = _refused(live_server, env, "OBJMGR_TOKENS_FILE")
    assert "line 2" in message and "placeholder" in message, message


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_suffix(".new")
    temporary.write_text(text)
    os.replace(temporary, path)


def _status(base_url: str, secret: str) -> int:
    response = requests.post(
        f"{base_url}/graphql",
        json={"query": "{ version }"},
        headers={"Authorization": f"Bearer {secret}"},
        timeout=SETTLE,
    )
    return response.status_code


def _log_count(live_server: LiveServer, text: str) -> int:
    return live_server.stderr().count(text)


def test_sighup_rotates_the_tokens_file_without_dropping_a_lease_or_a_waiter(
    live_server: LiveServer, tmp_path: Path
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"alice:{ALICE}\nbob:{BOB}\nroot:{ROOT}\n")
    url = live_server.start(
        {
            "OBJMGR_ENV": "production",
            "OBJMGR_TOKENS_FILE": str(tokens),
            "OBJMGR_ADMINS": "root",
            "OBJMGR_POOL_SIZE": "1",
        }
    )
    alice = live_server.client(ALICE)
    held = alice.acquire(ttl=600)
    assert held["success"], held
    # Bob waits for the only object, on a connection opened before the reload.
    bob = live_server.client(BOB)
    waited: dict[str, Any] = {}
    waiter = threading.Thread(target=lambda: waited.update(bob.post(HOLD)[0]), daemon=True)
    waiter.start()
    wait_until(lambda: live_server.client(ROOT).pool()["waiting"] == 1, SETTLE, "bob waiting")

    rotated = {"alice": "alice-second-0123456789", "root": "root-second-0123456789"}
    _write_atomically(tokens, f"alice:{rotated['alice']}\nbob:{BOB}\nroot:{rotated['root']}\n")
    workers = len(live_server.workers())
    os.kill(live_server.pid, signal.SIGHUP)
    wait_until(
        lambda: _log_count(live_server, "serves the reloaded tokens") == workers,
        SETTLE,
        "every worker to take the new tokens",
    )

    assert _status(url, ALICE) == 401, "the old token is refused"
    assert _status(url, ROOT) == 401
    assert _status(url, rotated["alice"]) == 200, "the new one works"
    root = live_server.client(rotated["root"])
    lease = root.lease(held["lease"]["obj"])
    assert lease is not None and lease["token"] == held["lease"]["token"], "still held"
    assert root.pool()["waiting"] == 1 and waiter.is_alive(), "bob still waits"

    # The same keep-alive connection, now with the new token: alice frees, bob gets it.
    alice.session.headers["Authorization"] = f"Bearer {rotated['alice']}"
    assert alice.free(held["lease"]["obj"], token=held["lease"]["token"])["success"]
    waiter.join(SETTLE)
    assert waited["data"]["acquireObject"]["success"], waited

    # A file that cannot serve: the master says so in one line and nothing changes.
    refusals = _log_count(live_server, "tokens not reloaded")
    _write_atomically(tokens, f"alice:{rotated['alice']}\nroot:short\n")
    os.kill(live_server.pid, signal.SIGHUP)
    wait_until(
        lambda: _log_count(live_server, "tokens not reloaded") == refusals + 1,
        SETTLE,
        "the refusal in the log",
    )
    assert "OBJMGR_TOKENS_FILE" in live_server.stderr()
    assert _status(url, rotated["root"]) == 200, "the tokens in use stay"
    assert _status(url, BOB) == 200
    assert _log_count(live_server, "serves the reloaded tokens") == workers, "no worker reloaded"

    # A worker that dies now is replaced by one serving the tokens in use, and does
    # not fail to boot on the bad file (which would stop the whole server).
    victim = live_server.workers()[0]
    live_server.kill_worker(victim)
    wait_until(
        lambda: len(live_server.workers()) == workers and victim not in live_server.workers(),
        SETTLE,
        "a new worker",
    )
    for _ in range(4 * workers):
        assert _status(url, rotated["root"]) == 200
    assert live_server.process is not None and live_server.process.poll() is None
