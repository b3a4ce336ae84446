"""The SQLite file deleted while real workers serve it: refused, never made again.

Deleting the database (with its -wal and -shm) under a running service must
not let anything be acknowledged into the deleted file, nor let a worker that
gunicorn starts afterwards make a fresh empty database and hand out objects and
tokens a second time. Once the operator restores the file, the service carries
on from it, tokens upward.
"""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import requests

from ..live.support import LiveServer, wait_until

pytestmark = pytest.mark.live


def readyz(server: LiveServer) -> int:
    return requests.get(f"{server.base_url}/readyz", timeout=5).status_code


def on_each_worker(server: LiveServer, owner: str) -> list[dict[str, Any]]:
    """One acquire served by each worker in turn (a new connection each time)."""
    answers = []
    for worker in server.workers():
        with server.only_worker(worker):
            client = server.client()
            answers.append(client.acquire(owner=owner))
            answers[-1]["readyz"] = readyz(server)
            client.close()
    return answers


def test_a_deleted_database_is_refused_by_every_worker_old_and_new(
    live_server: LiveServer, tmp_path: Path
) -> None:
    live_server.start({"OBJMGR_WORKERS": "2", "OBJMGR_POOL_SIZE": "10"})
    client = live_server.client()
    granted = [client.acquire(owner="before") for _ in range(3)]
    assert [g["lease"]["token"] for g in granted] == [1, 2, 3]
    assert readyz(live_server) == 200
    saved = tmp_path / "backup.sqlite3"
    with (
        contextlib.closing(sqlite3.connect(live_server.database)) as source,
        contextlib.closing(sqlite3.connect(saved)) as target,
    ):
        source.backup(target)

    for suffix in ("", "-wal", "-shm"):
        Path(f"{live_server.database}{suffix}").unlink(missing_ok=True)

    for answer in on_each_worker(live_server, "during"):
        assert (answer["success"], answer["code"], answer["readyz"]) == (
            False,
            "STORE_UNAVAILABLE",
            503,
        ), answer
    # A worker killed now is replaced by a new one, which must not make a database.
    killed = live_server.workers()[0]
    live_server.kill_worker(killed)
    wait_until(
        lambda: len(live_server.workers()) == 2 and killed not in live_server.workers(),
        20,
        "gunicorn to replace the killed worker",
    )
    for answer in on_each_worker(live_server, "respawned"):
        assert (answer["code"], answer["readyz"]) == ("STORE_UNAVAILABLE", 503), answer
    assert not live_server.database.exists()
    assert "restore it" in live_server.stderr() or "restore the file" in live_server.stderr()

    saved.rename(live_server.database)

    after = on_each_worker(live_server, "after")
    assert [a["success"] for a in after] == [True, True], after
    assert [a["lease"]["obj"] for a in after] == [4, 5]
    assert [a["lease"]["token"] for a in after] == [4, 5]
    assert all(a["readyz"] == 200 for a in after)
    held = live_server.client().leases()
    assert [lease["obj"] for lease in held] == [1, 2, 3, 4, 5]
    assert [lease["owner"] for lease in held] == ["before"] * 3 + ["after"] * 2
