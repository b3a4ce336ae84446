"""The server and its client: two distributions of one version, the server using the client's API.

The client's own tests are in clients/python/tests.
"""

from __future__ import annotations

import ast
import tomllib
from importlib import metadata
from pathlib import Path

import objmgr_client

from app.version import __version__ as server_version

ROOT = Path(__file__).resolve().parents[1]


def test_the_server_pins_the_client_of_its_own_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert f"objmgr-client=={server_version}" in project["dependencies"]
    assert objmgr_client.__version__ == server_version
    assert metadata.version("objmgr-client") == server_version, "make install is out of date"


def test_the_server_package_holds_no_client_of_its_own() -> None:
    assert not (ROOT / "app" / "client.py").exists()
    for module in (ROOT / "app").rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("app.client", "client"), module
            if isinstance(node, ast.Import):
                assert "app.client" not in [alias.name for alias in node.names], module
