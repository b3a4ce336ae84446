"""The original service's operations, sent byte for byte as its README and Postman collection do."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ..api_support import NO_RULES
from .support import LiveServer

pytestmark = pytest.mark.live

GET_OBJECT = b'{"query": "query {\\n  getObject\\n}"}'
GET_OBJECT_SHORTHAND = b'{"query": "{\\n  getObject\\n}"}'
FREE_OBJECT_1 = b'{"query": "mutation {\\n    freeObject(obj: 1) {\\n        success\\n    }\\n}"}'
FREE_OBJECT_1_POSTMAN = b'{"query": "mutation {\\n  freeObject (obj:1) {\\n    success\\n  }\\n}"}'


def send(base_url: str, body: bytes) -> dict[str, Any]:
    response = requests.post(
        f"{base_url}/graphql",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_seed_operations_verbatim(live_server: LiveServer) -> None:
    url = live_server.start()

    assert send(url, GET_OBJECT) == {"data": {"getObject": 1}}
    assert send(url, GET_OBJECT_SHORTHAND) == {"data": {"getObject": 2}}
    assert send(url, FREE_OBJECT_1) == {"data": {"freeObject": {"success": True}}}
    # Freeing the same object again changes nothing and says so.
    assert send(url, FREE_OBJECT_1_POSTMAN) == {"data": {"freeObject": {"success": False}}}
    assert live_server.client().pool()["inUse"] == 1


def test_seed_hands_out_n_itself_then_null(live_server: LiveServer) -> None:
    url = live_server.start({"OBJMGR_POOL_SIZE": "3"})

    handed_out = [send(url, GET_OBJECT)["data"]["getObject"] for _ in range(3)]

    assert handed_out == [1, 2, 3]
    assert send(url, GET_OBJECT_SHORTHAND) == {"data": {"getObject": None}}
    assert live_server.client().pool() == {
        "name": "default",
        "size": 3,
        "available": 0,
        "inUse": 3,
        "waiting": 0,
        **NO_RULES,
    }


def test_get_object_over_get_is_refused_and_takes_nothing(live_server: LiveServer) -> None:
    url = live_server.start()
    client = live_server.client()
    assert send(url, GET_OBJECT) == {"data": {"getObject": 1}}
    before = client.pool()

    response = requests.get(f"{url}/graphql?query={{getObject}}", timeout=30)

    assert response.status_code == 405
    assert client.pool() == before
    # The refused request did not consume object 2 either.
    assert send(url, GET_OBJECT) == {"data": {"getObject": 2}}
