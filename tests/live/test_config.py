"""Starting gunicorn with OBJMGR_* settings: bad or unsafe ones stop the start."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

import pytest
import requests

from .support import LiveServer, wait_until

pytestmark = pytest.mark.live

BAD_VALUES = {
    "OBJMGR_POOL_SIZE": "abc",
    "OBJMGR_ENV": "staging",
    "OBJMGR_STORE": "postgres://x",
    "OBJMGR_MAX_WAIT": "-1",
    "OBJMGR_TOKENS": "nocolon",
}


def assert_refused(server: LiveServer, variable: str) -> None:
    code = server.wait_exit()
    stderr = server.stderr()
    assert code != 0, server.output()
    assert variable in stderr, server.output()
    assert "Traceback" not in stderr, server.output()


def test_memory_store_refuses_more_than_one_worker(
    live_servers: Callable[[], LiveServer],
) -> None:
    refused = live_servers()
    refused.spawn({"OBJMGR_STORE": "memory://", "OBJMGR_WORKERS": "2"})
    assert_refused(refused, "OBJMGR_WORKERS")

    single = live_servers()
    single.start({"OBJMGR_STORE": "memory://", "OBJMGR_WORKERS": "1"})
    client = single.client()
    assert client.acquire(owner="only")["lease"]["obj"] == 1
    assert client.pool()["inUse"] == 1
    assert not single.database.exists(), "memory:// wrote the SQLite file"


def test_memory_store_never_serves_two_workers_after_a_ttin(live_server: LiveServer) -> None:
    """SIGTTIN is gunicorn's documented way to add a worker to a running server.

    With memory:// a second worker has pools of its own, so the server must not
    end up with two workers that both serve (exiting or ignoring it both do).
    """
    live_server.start({"OBJMGR_STORE": "memory://", "OBJMGR_WORKERS": "1"})

    def master_handled(signame: str) -> bool:
        handled = f"Handling signal: {signame}" in live_server.stderr()
        return handled or live_server.process is None or live_server.process.poll() is not None

    os.kill(live_server.pid, signal.SIGTTIN)
    wait_until(lambda: master_handled("ttin"), 10, "the master to take SIGTTIN")
    # The master handles signals one after another, and SIGWINCH is a no-op when
    # not daemonized: once it is handled, whatever SIGTTIN forked is there.
    os.kill(live_server.pid, signal.SIGWINCH)
    wait_until(lambda: master_handled("winch"), 10, "the master to take SIGWINCH")
    if live_server.process is not None and live_server.process.poll() is not None:
        return

    granted = []
    for worker in live_server.workers():
        with live_server.only_worker(worker):
            client = live_server.client()
            granted.append(client.acquire(owner=f"via-{worker}")["lease"])
            client.close()
    objects = [lease["obj"] for lease in granted]
    assert len(objects) == len(set(objects)), f"one object went to two clients: {granted}"


def test_bad_values_stop_the_start_naming_the_variable(
    live_servers: Callable[[], LiveServer],
) -> None:
    # Started together to keep the suite short; each is judged by its own exit.
    servers = {}
    for variable, value in BAD_VALUES.items():
        servers[variable] = live_servers()
        servers[variable].spawn({variable: value})
    for variable, server in servers.items():
        assert_refused(server, variable)


def test_production_needs_tokens_unless_auth_is_disabled_on_purpose(
    live_servers: Callable[[], LiveServer],
) -> None:
    refused = live_servers()
    refused.spawn({"OBJMGR_ENV": "production"})
    assert_refused(refused, "OBJMGR_TOKENS")

    server = live_servers()
    url = server.start({"OBJMGR_ENV": "production", "OBJMGR_AUTH": "disabled"})
    assert server.client().acquire()["success"] is True

    page = requests.get(f"{url}/graphql", headers={"Accept": "text/html"}, timeout=30)
    assert not page.headers["Content-Type"].startswith("text/html"), page.text[:200]
    assert "graphiql" not in page.text.lower()

    body, status = server.client().post("{ __schema { types { name } } }")
    assert status in (200, 400)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
