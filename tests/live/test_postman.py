"""deploy/objmgr.postman_collection.json, run top to bottom against a fresh server.

The runner (`postman_support.py`) does what Postman does with each request and
checks the essentials of each answer. Where newman is installed (`make tools`),
the collection also runs for real, test scripts included.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from objmgr_client.operations import OPERATIONS

from ..deploy_files import COLLECTION, ROOT
from .postman_support import AUTH, CHECKS, STREAMED, flatten, load_collection, run_collection
from .support import LiveServer

pytestmark = pytest.mark.live


def test_every_request_has_a_check() -> None:
    names = [item["name"] for item in flatten(load_collection()["item"])]
    assert len(names) == len(set(names)), "request names are unique"
    assert set(names) == set(CHECKS)


def test_every_body_is_an_operation_of_the_client() -> None:
    """Each GraphQL body is, character for character, a document of `OPERATIONS`.

    Not the same text after normalising whitespace: the same text, so that the
    collection is regenerated from the operations when they change, and a test
    reading it cannot disagree with another on what counts as the same. And
    every operation is sent by some request.
    """
    by_text = {document: name for name, document in OPERATIONS.items()}
    sent = set()
    for item in flatten(load_collection()["item"]):
        spec = item["request"]
        if spec["method"] == "GET":
            continue
        query = spec["body"]["graphql"]["query"]
        assert query in by_text, f"{item['name']!r} sends a document not in OPERATIONS"
        sent.add(by_text[query])
    assert sent == set(OPERATIONS), f"never sent: {sorted(set(OPERATIONS) - sent)}"


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
def test_collection_runs_top_to_bottom(live_server: LiveServer, auth: bool) -> None:
    url = live_server.start(AUTH if auth else None)
    token = "postman-secret" if auth else ""

    assert run_collection(url, token) == [i["name"] for i in flatten(load_collection()["item"])]
    # Again on the same server: the collection cleans up after itself.
    run_collection(url, token)
    if auth:
        with pytest.raises(AssertionError, match="401"):
            run_collection(url, "")


def _newman() -> str | None:
    local = ROOT / ".tools" / "node_modules" / ".bin" / "newman"
    return str(local) if os.access(local, os.X_OK) else shutil.which("newman")


def test_newman_runs_the_collection_and_its_test_scripts(
    live_server: LiveServer, tmp_path: Path
) -> None:
    newman = _newman()
    if newman is None:
        pytest.skip("newman is not installed: `make tools` installs it from npm")
    url = live_server.start(AUTH)
    run = [item for item in flatten(load_collection()["item"]) if item["name"] != STREAMED]
    expected = sum(
        line.count("pm.test(")
        for item in run
        for event in item["event"]
        for line in event["script"]["exec"]
    )
    for attempt in (1, 2):  # twice: rerunnable against the same server
        report = tmp_path / f"newman{attempt}.json"
        result = subprocess.run(
            [
                newman,
                "run",
                str(COLLECTION),
                "--env-var",
                f"baseUrl={url}",
                "--env-var",
                "token=postman-secret",
                "--reporters",
                "cli,json",
                "--reporter-json-export",
                str(report),
                "--color",
                "off",
                "--disable-unicode",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        stats = json.loads(report.read_text())["run"]["stats"]
        assert stats["requests"] == {"total": len(run), "pending": 0, "failed": 0}
        assert stats["assertions"]["failed"] == 0
        assert stats["assertions"]["total"] == expected
        assert stats["testScripts"]["failed"] == 0
