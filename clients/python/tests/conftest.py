"""Fixtures for the client's tests: real gunicorn servers, as the server's live tests start them.

Run from the repository's root (pytest's `pythonpath` there makes `tests` importable).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lossy_proxy import LossyProxy
from objmgr_client import Client

from tests.live.support import LiveServer

_names = itertools.count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server for a module's tests, on its own SQLite file and port."""
    live = LiveServer(tmp_path_factory.mktemp("client-server"))
    try:
        live.start()
        yield live
    finally:
        live.close()


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of this test alone, not started: the test starts (and may stop) it."""
    live = LiveServer(tmp_path / "server")
    try:
        yield live
    finally:
        live.close()


@pytest.fixture
def client(server: LiveServer) -> Client:
    return Client(server.base_url, token=None, timeout=10)


@pytest.fixture
def pool(client: Client) -> str:
    """A pool of 3 objects of this test's own."""
    name = f"client-{next(_names)}"
    client.create_pool(name, 3)
    return name


ProxyFactory = Callable[[int | None, int], LossyProxy]


@pytest.fixture
def lossy_proxy() -> Iterator[ProxyFactory]:
    """Makes `LossyProxy(upstream_port, lose)`s, closed after the test."""
    made: list[LossyProxy] = []

    def make(upstream_port: int | None, lose: int) -> LossyProxy:
        proxy = LossyProxy(upstream_port, lose)
        made.append(proxy)
        return proxy

    yield make
    for proxy in made:
        proxy.close()
