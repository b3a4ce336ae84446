"""The README's client and command-line examples, as written, against a fresh server."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from .support import LiveServer

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
CLIENT_README = ROOT / "clients" / "python" / "README.md"
DEFAULT_URL = "http://127.0.0.1:5000"


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## From Python and the shell")
    return readme[start : readme.index("### Postman", start)]


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", _section(), flags=re.DOTALL)


def _environment(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJMGR_")}
    env["OBJMGR_URL"] = url
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def test_python_examples_are_the_client_readmes() -> None:
    """The README shows the client's own examples: clients/python's tests run those."""
    section = _section()
    assert "clients/python/README.md" in section, "the section points to the client's README"
    client_blocks = re.findall(r"```python\n(.*?)```", CLIENT_README.read_text(), flags=re.DOTALL)
    blocks = _blocks("python")
    assert blocks, "an example of the client"
    for block in blocks:
        assert block in client_blocks, f"not an example of clients/python/README.md:\n{block}"


def test_shell_examples(live_server: LiveServer) -> None:
    url = live_server.start()
    commands, script = _blocks("sh")[:2]
    env = _environment(url)
    for line in commands.splitlines():
        result = subprocess.run(
            ["bash", "-c", line], env=env, capture_output=True, text=True, timeout=60
        )
        expected = 1 if "exits 1" in line else 0
        assert result.returncode == expected, f"{line}\n{result.stdout}{result.stderr}"
        if expected:
            assert result.stderr.strip() == "NOT_ALLOCATED: object 1 of pool 'default' is not held"
    held = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert held.returncode == 0, held.stderr
    working, freed_line = held.stdout.splitlines()
    obj = working.removeprefix("working with object ")
    assert freed_line == f"freed object {obj} of pool 'default'", "the script's trap frees it"
    freed = subprocess.run(
        ["objmgr", "lease", obj], env=env, capture_output=True, text=True, timeout=60
    )
    assert freed.stdout.strip().endswith("is free")
