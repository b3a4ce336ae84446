"""`pip install ./clients/python` into a fresh venv: the client alone, it holds a lease and
watches the pool's events.

One venv for the module (making it is the slow part). pip reads its indexes
from the machine's configuration, as a user's pip would; building the client
needs setuptools, which pip fetches into its isolated build environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.support import LiveServer

pytestmark = pytest.mark.live

CLIENT_SOURCE = Path(__file__).resolve().parents[1]
INSTALL_TIMEOUT = 300

PROBE = """
import importlib.metadata, importlib.util, json, sys, sysconfig
from pathlib import Path
import objmgr_client
site = Path(sysconfig.get_paths()["purelib"])
with objmgr_client.lease(ttl=10, renew_every=0.2, label="fresh venv") as held:
    held.check()
    seen = objmgr_client.Client().get_lease(held.obj)
with objmgr_client.Client().watch(after=0) as watch:
    watched = [next(watch).kind, next(watch).kind]
print(json.dumps({
    "file": objmgr_client.__file__,
    "typed": (Path(objmgr_client.__file__).parent / "py.typed").is_file(),
    "version": importlib.metadata.version("objmgr-client") == objmgr_client.__version__,
    "site": str(site),
    "top_level": sorted(p.name for p in site.iterdir() if not p.name.endswith("-info")),
    "distributions": sorted(d.metadata["Name"] for d in importlib.metadata.distributions()),
    "app": importlib.util.find_spec("app") is not None,
    "held": [held.obj, held.token],
    "seen": None if seen is None else [seen.obj, seen.token],
    "freed": objmgr_client.Client().get_lease(held.obj) is None,
    "watched": watched,
}))
"""


def _clean_env() -> dict[str, str]:
    """The environment without anything that would point Python at this checkout."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTHON", "VIRTUAL_ENV", "OBJMGR_"))
    }


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fresh")
    # A copy: pip builds in the tree it is given, and the checkout stays as it was.
    source = root / "objmgr-client"
    shutil.copytree(
        CLIENT_SOURCE,
        source,
        ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"),
    )
    venv = root / "venv"
    # The interpreter this venv was made from, not the checkout's venv with the server in it.
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=INSTALL_TIMEOUT)
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", str(source)],
        cwd=root,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield venv


def test_a_fresh_venv_has_the_client_alone_and_holds_a_lease(
    fresh_venv: Path, server: LiveServer, tmp_path: Path
) -> None:
    result = subprocess.run(
        [str(fresh_venv / "bin" / "python"), "-c", PROBE],
        cwd=tmp_path,
        env={**_clean_env(), "OBJMGR_URL": server.base_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["file"].startswith(found["site"]), "imported from the venv, not the checkout"
    assert found["typed"] and found["version"]
    assert not found["app"] and "app" not in found["top_level"], "no top-level app installed"
    assert set(found["distributions"]) <= {"objmgr-client", "pip", "setuptools"}, found
    assert "objmgr-client" in found["distributions"]
    assert found["seen"] == found["held"], "the server saw the lease the venv held"
    assert found["freed"], "and it was freed on exit"
    assert found["watched"] == ["POOL_CREATED", "GRANTED"], "the journal streamed over SSE"
