"""Fixtures that start real gunicorn servers and always kill them afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ..support.redis_server import launch_redis
from .support import LiveServer

if TYPE_CHECKING:
    from .dashboard_support import Browser

ServerFactory = Callable[[], LiveServer]


@pytest.fixture
def live_servers(tmp_path: Path) -> Iterator[ServerFactory]:
    """Makes `LiveServer`s (each with its own port and SQLite file); kills them all at teardown."""
    servers: list[LiveServer] = []

    def make() -> LiveServer:
        server = LiveServer(tmp_path / f"server{len(servers)}")
        servers.append(server)
        return server

    yield make
    errors = []
    for server in servers:
        try:
            server.close()
        except Exception as error:  # teardown goes on for the other servers
            errors.append(error)
    if errors:
        raise errors[0]


@pytest.fixture
def live_server(live_servers: ServerFactory) -> LiveServer:
    """A server not started yet: the test starts it with the environment it needs."""
    return live_servers()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium (Debian's) for a module's tests: a browser starts once per module."""
    from .dashboard_support import chromium

    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server shared by a module's tests, for those that need no fresh state."""
    live = LiveServer(tmp_path_factory.mktemp("shared"))
    try:
        live.start()
        yield live
    finally:
        live.close()


@pytest.fixture
def redis_hosts(tmp_path: Path) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two servers, as two hosts would be, on one redis-server of the test's own."""
    redis = launch_redis(tmp_path / "redis")
    hosts = (LiveServer(tmp_path / "host0"), LiveServer(tmp_path / "host1"))
    try:
        for host in hosts:
            host.start({"OBJMGR_STORE": redis.url})
        yield hosts
    finally:
        for host in hosts:
            host.close()
        redis.stop()
