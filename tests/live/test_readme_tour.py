"""The README's tour of the API, run as written against a fresh server.

Every `gql '...'` line of the tour is sent in order; where the README shows
the answer (`# {...}` below it), the server must give that answer, times
and other values that change from run to run aside.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from .support import HTTP_TIMEOUT, LiveServer

pytestmark = pytest.mark.live

README = Path(__file__).resolve().parents[2] / "README.md"
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def tour() -> list[tuple[str, Any]]:
    """(request body, expected answer or None) for each call of the tour."""
    text = README.read_text()
    section = text[text.index("## A tour of the API") : text.index("### Endpoints")]
    calls: list[tuple[str, Any]] = []
    for line in section.splitlines():
        if line.startswith("gql '"):
            calls.append((line[len("gql '") : line.rindex("'")], None))
        elif line.startswith("# {") and calls:
            calls[-1] = (calls[-1][0], json.loads(line[2:]))
    return calls


def same_shape(answer: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return (
            isinstance(answer, dict)
            and answer.keys() == expected.keys()
            and all(same_shape(answer[key], value) for key, value in expected.items())
        )
    if isinstance(expected, str) and TIMESTAMP.match(expected):
        return isinstance(answer, str) and bool(TIMESTAMP.match(answer))
    return answer == expected


def test_the_tour_gives_what_the_readme_says(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_POOL_SIZE": "100"})
    calls = tour()
    assert len(calls) >= 12 and sum(expected is not None for _, expected in calls) >= 6
    for body, expected in calls:
        response = requests.post(
            f"{url}/graphql",
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            timeout=HTTP_TIMEOUT,
        )
        answer = response.json()
        assert response.status_code == 200 and "errors" not in answer, (body, answer)
        if expected is not None:
            assert same_shape(answer, expected), (body, answer, expected)
