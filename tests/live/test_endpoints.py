"""Probes, the playground, and requests that are wrong in every way a client can get wrong."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from .support import LiveServer

pytestmark = pytest.mark.live

JSON = {"Content-Type": "application/json"}


def test_probes_and_version(live_server: LiveServer) -> None:
    url = live_server.start()

    health = requests.get(f"{url}/healthz", timeout=30)
    ready = requests.get(f"{url}/readyz", timeout=30)
    version = requests.get(f"{url}/version", timeout=30)

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert version.status_code == 200
    assert version.json()["version"]
    assert live_server.client().data("{ version }") == {"version": version.json()["version"]}


def test_unreachable_store_is_reported_not_crashed_on(live_server: LiveServer) -> None:
    blocker = live_server.directory / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    url = live_server.start({"OBJMGR_STORE": f"sqlite:///{blocker}/objmgr.sqlite3"})

    health = requests.get(f"{url}/healthz", timeout=30)
    ready = requests.get(f"{url}/readyz", timeout=30)
    acquired = live_server.client().acquire()

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert (acquired["success"], acquired["code"]) == (False, "STORE_UNAVAILABLE")
    assert "Traceback" not in ready.text + str(acquired)


def test_playground_is_served_without_internet(live_server: LiveServer) -> None:
    url = live_server.start()

    page = requests.get(f"{url}/graphql", headers={"Accept": "text/html"}, timeout=30)

    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/"), f"the playground loads {asset} from elsewhere"
        assert requests.get(f"{url}{asset}", timeout=30).status_code == 200, asset


MALFORMED: dict[str, dict[str, Any]] = {
    "bad JSON": {"data": b'{"query": "{ version }', "headers": JSON},
    "empty body": {"data": b"", "headers": JSON},
    "a JSON list": {"data": b'[{"query": "{ version }"}]', "headers": JSON},
    "a JSON string": {"data": b'"{ version }"', "headers": JSON},
    "non-UTF-8 bytes": {"data": b'{"query": "{ \xff\xfe version }"}', "headers": JSON},
    "query not a string": {"json": {"query": 42}},
    "variables not an object": {"json": {"query": "{ version }", "variables": [1]}},
    "operationName not a string": {"json": {"query": "{ version }", "operationName": 7}},
    "syntax error": {"json": {"query": "{ version "}},
    "unknown field": {"json": {"query": "{ nope }"}},
    "query over 64 KiB": {"json": {"query": "{ version }" + " " * (65 * 1024)}},
    "body over 1 MiB": {"json": {"query": "{ version }", "variables": {"x": "a" * 2**21}}},
    "deeply nested": {"json": {"query": "{" * 5000 + "}" * 5000}},
    "wrong variable type": {
        "json": {
            "query": "mutation ($obj: Int!) { freeObject(obj: $obj) { success } }",
            "variables": {"obj": "one"},
        }
    },
    "token not an integer": {
        "json": {
            "query": "mutation ($t: BigInt) { freeObject(obj: 1, token: $t) { success } }",
            "variables": {"t": 1.5},
        }
    },
    "Int out of 32 bits": {"json": {"query": "{ lease(obj: 4294967296) { obj } }"}},
    "ttl not finite": {"json": {"query": "mutation { acquireObject(ttl: 1e999) { code } }"}},
    "unsupported content type": {
        "data": b"{ version }",
        "headers": {"Content-Type": "text/plain"},
    },
}


def test_no_malformed_request_gets_a_5xx_or_a_traceback(live_server: LiveServer) -> None:
    url = live_server.start()
    graphql = f"{url}/graphql"
    responses = {
        name: requests.post(graphql, timeout=30, **request) for name, request in MALFORMED.items()
    }
    responses["PUT method"] = requests.put(graphql, json={"query": "{ version }"}, timeout=30)
    responses["DELETE method"] = requests.delete(graphql, timeout=30)

    for name, response in responses.items():
        assert response.status_code < 500, (name, response.status_code, response.text[:300])
        assert "Traceback" not in response.text, name
        assert 'File "' not in response.text, name
    # Each is refused in the error shape clients parse, not as an HTML page.
    for name, response in responses.items():
        if name != "ttl not finite":
            assert response.json()["errors"][0]["message"], name
    assert responses["ttl not finite"].json() == {
        "data": {"acquireObject": {"code": "BAD_USER_INPUT"}}
    }
    # None of them took an object.
    assert live_server.client().pool()["inUse"] == 0
