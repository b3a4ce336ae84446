"""What only the SQLite store has: a file, its folder, and the process that opens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import Settings
from app.pool.errors import StoreUnavailable
from app.pool.lease import AcquireRequest
from app.stores.sqlite import SQLiteStore


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
