"""Bearer tokens on a real server: who may do what."""

from __future__ import annotations

import pytest
import requests

from .support import LiveServer

pytestmark = pytest.mark.live

CREATE_POOL = """
mutation Create($name: String!, $size: Int!) {
  createPool(name: $name, size: $size) { success code message pool { name size } }
}
"""


def test_tokens_decide_owner_and_rights(live_server: LiveServer) -> None:
    url = live_server.start(
        {"OBJMGR_TOKENS": "alice:s3cret,bob:hunter2,root:r00t", "OBJMGR_ADMINS": "root"}
    )

    anonymous = requests.post(f"{url}/graphql", json={"query": "{ version }"}, timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    body, status = live_server.client(token="wrong").post("{ version }")
    assert status == 401
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    alice, bob, root = (
        live_server.client(token=secret) for secret in ("s3cret", "hunter2", "r00t")
    )
    # The owner is who the token says, not what the client claims.
    taken = alice.acquire(owner="mallory", label="alice's job")
    assert taken["success"] is True
    assert taken["lease"]["owner"] == "alice"

    stolen = bob.free(taken["lease"]["obj"])
    assert (stolen["success"], stolen["code"]) == (False, "NOT_OWNER")
    assert alice.lease(taken["lease"]["obj"]) == taken["lease"]

    refused = bob.data(CREATE_POOL, {"name": "gpus", "size": 4})["createPool"]
    assert (refused["success"], refused["code"]) == (False, "FORBIDDEN")
    assert bob.data('{ pool(name: "gpus") { name } }')["pool"] is None

    created = root.data(CREATE_POOL, {"name": "gpus", "size": 4})["createPool"]
    assert created["success"] is True, created
    assert created["pool"] == {"name": "gpus", "size": 4}

    # The owner frees her own object.
    assert alice.free(taken["lease"]["obj"])["success"] is True
