"""clients/python/README.md: its examples run as written, its tables name what there is."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import objmgr_client
import pytest
from graphql import GraphQLEnumType
from objmgr_client import GONE_CODES, RETRY_CODES

from app.api.schema import schema
from tests.live.support import LiveServer

CLIENT = Path(__file__).resolve().parents[1]
README = (CLIENT / "README.md").read_text()
DEFAULT_URL = "http://127.0.0.1:5000"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


@pytest.mark.live
def test_python_examples_run_against_a_fresh_server(live_server: LiveServer) -> None:
    url = live_server.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OBJMGR_")}
    env["OBJMGR_URL"] = url
    blocks = _blocks("python")
    assert len(blocks) == 5
    outputs = []
    for block in blocks:
        result = subprocess.run(
            [sys.executable, "-c", block.replace(DEFAULT_URL, url)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, f"{block}\n{result.stderr}"
        outputs.append(result.stdout)
    first, second, several, journal, watched = outputs
    assert "NOT_ALLOCATED object 1 of pool 'default' is not held" in first
    assert second.startswith("working with object ")
    # The block ends with what it prints, as comments.
    printed = re.findall(r"^# (.*)$", blocks[2], flags=re.MULTILINE)
    assert several.splitlines() == printed[-6:], several
    lines = journal.splitlines()
    assert lines[0].startswith("1 POOL_CREATED None None ")
    last_seq = int(lines[-6].split()[0])
    assert lines[-6].split()[1:4] == ["FREED", "3", "ci-7"], journal
    assert lines[-5:] == [
        "[]",
        f"followed {last_seq - 1} GRANTED",
        f"followed {last_seq} FREED",
        f"watched {last_seq - 1} GRANTED",
        f"watched {last_seq} FREED",
    ]
    assert watched.splitlines() == ["1 POOL_CREATED None None", "2 GRANTED 1 ci-7"]


def test_every_error_code_of_the_schema_is_in_the_table() -> None:
    enum = schema.graphql_schema.get_type("ErrorCode")
    assert isinstance(enum, GraphQLEnumType)
    error_codes = set(enum.values)
    table = README[README.index("## Errors") :]
    missing = {code for code in error_codes if f"`{code}`" not in table}
    assert not missing, missing
    assert error_codes >= GONE_CODES | RETRY_CODES


def test_the_map_names_every_module() -> None:
    listed = set(re.findall(r"^  (\w+\.py) ", README, flags=re.MULTILINE))
    package = Path(objmgr_client.__file__).parent
    assert listed == {module.name for module in package.glob("*.py")}
