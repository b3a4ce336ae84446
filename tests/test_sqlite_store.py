"""What only the SQLite store has: a file, its folder, and the process that opens it."""

from __future__ import annotations

import multiprocessing
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from app import create_app
from app.config import Settings
from app.pool.errors import StoreUnavailable
from app.pool.lease import AcquireRequest
from app.stores.sqlite import SQLiteStore

PROCESSES = 4


def test_a_store_in_a_folder_not_made_yet_makes_it(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "not" / "yet" / "objmgr.sqlite3", default_pool=("default", 3))
    assert store.acquire(AcquireRequest("default")).obj == 1
    assert (tmp_path / "not" / "yet" / "objmgr.sqlite3").exists()
    store.close()


def test_the_default_settings_serve_from_a_fresh_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    client = create_app(Settings.from_env({})).test_client()
    answer = client.post("/graphql", json={"query": "query {\n  getObject\n}"})
    assert answer.get_json() == {"data": {"getObject": 1}}
    assert (tmp_path / "var" / "objmgr.sqlite3").exists()


def test_an_unusable_file_is_store_unavailable_without_its_path(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    store = SQLiteStore(tmp_path / "a-file" / "objmgr.sqlite3")
    with pytest.raises(StoreUnavailable) as raised:
        store.acquire(AcquireRequest("default"))
    assert str(tmp_path) not in raised.value.message


def _open_and_acquire(path: str, start: Barrier, results: Queue[object]) -> None:
    store = SQLiteStore(path, default_pool=("default", 100))
    start.wait(timeout=30)
    try:
        results.put(store.acquire(AcquireRequest("default")).obj)
    except Exception as error:  # the parent asserts on what it got
        results.put(repr(error))


@pytest.mark.parametrize("attempt", range(5))
def test_workers_opening_a_new_file_at_once_all_get_in(tmp_path: Path, attempt: int) -> None:
    """gunicorn starts its workers together, and each opens the file: the first
    connection makes the schema and sets WAL while the others connect."""
    context = multiprocessing.get_context("fork")
    start, results = context.Barrier(PROCESSES), context.Queue()
    path = str(tmp_path / f"fresh-{attempt}.sqlite3")
    workers = [
        context.Process(target=_open_and_acquire, args=(path, start, results))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    got = [results.get(timeout=30) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert [answer for answer in got if not isinstance(answer, int)] == []
    assert sorted(got) == list(range(1, PROCESSES + 1))  # type: ignore[type-var]
