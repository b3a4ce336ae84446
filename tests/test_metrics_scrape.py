"""What a scrape costs and answers when the store is away; its text checked by
promtool; prometheus_client left unimported until an app is made."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from flask import Flask

from app import Settings, create_app
from app.stores.sqlite import SQLiteStore

from .api_support import Api, granted
from .metrics_support import Scrape
from .support.fills import fill_redis_leases, fill_sqlite_leases
from .support.gunicorn import ROOT
from .support.redis_server import RedisServer


def scrape(api: Api) -> Scrape:
    response = api.request("GET", "/metrics", unavailable_ok=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return Scrape(response.get_data(as_text=True))


def app_on(url: str) -> Flask:
    return create_app(Settings(store=url, pool_size=3, workers=1))


# A store away ------------------------------------------------------------
def test_a_deleted_sqlite_file_is_store_up_0_and_no_pool_gauges(tmp_path: Path) -> None:
    path = tmp_path / "objmgr.sqlite3"
    api = Api(app_on(f"sqlite:///{path}"))
    granted(api.acquire())
    assert scrape(api).value("objmgr_store_up") == 1
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        file.unlink(missing_ok=True)

    found = scrape(api)
    assert found.value("objmgr_store_up") == 0
    assert found.pools() == {}
    # The counters are the process's own: they stay.
    assert found.value("objmgr_leases_granted_total", pool="default") == 1


def test_a_redis_down_is_store_up_0_and_the_scrape_answers(own_redis: RedisServer) -> None:
    api = Api(app_on(own_redis.url))
    granted(api.acquire())
    own_redis.stop()
    try:
        found = scrape(api)
        assert found.value("objmgr_store_up") == 0
        assert found.pools() == {}
    finally:
        own_redis.start()
    assert scrape(api).value("objmgr_store_up") == 1


# Cost --------------------------------------------------------------------
HELD = 1_000_000
FEW = 10
#: SQLite virtual-machine steps per count.
STEPS = 10


def sqlite_steps_of_a_scrape(directory: Path, held: int) -> int:
    """SQLite's virtual-machine steps, in tens, for one scrape of a pool holding `held`."""
    directory.mkdir()
    path = directory / "objmgr.sqlite3"
    app = app_on(f"sqlite:///{path}")
    api = Api(app)
    granted(api.create_pool("big", 2 * HELD))
    fill_sqlite_leases(path, "big", held, now=time.time())
    assert scrape(api).pools()["big"]["in_use"] == held
    store: SQLiteStore = app.extensions["objmgr"].store
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    store._reader().set_progress_handler(count, STEPS)
    assert scrape(api).pools()["big"]["in_use"] == held
    store._reader().set_progress_handler(None, STEPS)
    return steps


def test_a_sqlite_scrape_at_a_million_held_costs_what_it_costs_at_ten(tmp_path: Path) -> None:
    few = sqlite_steps_of_a_scrape(tmp_path / "few", FEW)
    many = sqlite_steps_of_a_scrape(tmp_path / "many", HELD)
    assert few > 0
    # A count over the leases would take millions of steps; a B-tree one level deeper, a few.
    assert many <= few * 1.2, (few, many)


def redis_commands_of_a_scrape(url: str, held: int) -> dict[str, int]:
    """The commands Redis ran for one scrape of a pool holding `held`, by name."""
    client = redis.Redis.from_url(url)
    client.flushall()
    api = Api(app_on(url))
    granted(api.create_pool("big", 2 * HELD))
    fill_redis_leases(client, "big", held)
    assert scrape(api).pools()["big"]["in_use"] == held
    scrape(api)
    client.config_resetstat()
    scrape(api)
    stats = client.info("commandstats")
    client.close()
    return {
        name: int(value["calls"])
        for name, value in stats.items()
        if name not in ("cmdstat_info", "cmdstat_config|resetstat")
    }


def test_a_redis_scrape_at_a_million_held_costs_what_it_costs_at_ten(redis_url: str) -> None:
    few = redis_commands_of_a_scrape(redis_url, FEW)
    many = redis_commands_of_a_scrape(redis_url, HELD)
    assert many == few


# The text ------------------------------------------------------------------
def test_promtool_finds_nothing_to_say_about_a_scrape(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (Debian's prometheus package brings it)")
    api = Api(app_on(f"sqlite:///{tmp_path}/objmgr.sqlite3"))
    lease = granted(api.acquire(ttl=60))["lease"]
    granted(api.renew(lease["obj"], lease["token"]))
    granted(api.free(lease["obj"]))
    api.acquire(pool="no-such-pool")
    text = api.request("GET", "/metrics").get_data(as_text=True)

    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "" and checked.stderr.strip() == "", checked


def test_prometheus_client_waits_until_an_app_is_made() -> None:
    """The gunicorn master imports `app` with its settings, before it sets
    PROMETHEUS_MULTIPROC_DIR; prometheus_client, imported then, would count
    each worker alone."""
    program = (
        "import sys, app, app.gunicorn_conf\n"
        "assert 'prometheus_client' not in sys.modules, 'imported with the settings'\n"
        "app.create_app(app.Settings(store='memory://', workers=1))\n"
        "assert 'prometheus_client' in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
