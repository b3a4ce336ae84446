"""A runner of deploy/objmgr.postman_collection.json, and the check of each request's answer.

It does what Postman does with each request (collection variables, bearer
auth, GraphQL bodies) and checks the essentials of the answer the
collection's own test script checks (`CHECKS`, one per request name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests

from ..deploy_files import COLLECTION

pytestmark = pytest.mark.live

Variables = dict[str, Any]
Check = Callable[[requests.Response, Variables], None]
AUTH = {"OBJMGR_TOKENS": "postman:postman-secret", "OBJMGR_ADMINS": "postman"}


def load_collection() -> dict[str, Any]:
    return json.loads(COLLECTION.read_text())


def flatten(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for item in items:
        flat.extend(flatten(item["item"]) if "item" in item else [item])
    return flat


def _substitute(text: str, variables: Variables) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in variables, f"{{{{{name}}}}} is not a collection variable"
        return str(variables[name])

    return re.sub(r"\{\{(\w+)\}\}", value, text)


def _send(
    session: requests.Session, item: dict[str, Any], auth: dict[str, Any], variables: Variables
) -> requests.Response:
    spec = item["request"]
    headers = {h["key"]: _substitute(h["value"], variables) for h in spec.get("header", [])}
    auth = spec.get("auth", auth)
    if auth["type"] == "bearer":
        (token,) = [entry["value"] for entry in auth["bearer"] if entry["key"] == "token"]
        token = _substitute(token, variables)
        if token:
            headers["Authorization"] = f"Bearer {token}"
    url = _substitute(spec["url"]["raw"], variables)
    body = None
    if "body" in spec:
        assert spec["body"]["mode"] == "graphql"
        graphql = spec["body"]["graphql"]
        text = _substitute(graphql.get("variables") or "", variables).strip()
        body = {"query": graphql["query"], "variables": json.loads(text) if text else {}}
    # Streamed: the subscription's answer never ends by itself; the others are read whole.
    return session.request(spec["method"], url, headers=headers, json=body, timeout=30, stream=True)


def _data(response: requests.Response) -> dict[str, Any]:
    assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _payload(response: requests.Response, field: str) -> dict[str, Any]:
    result = _data(response)[field]
    assert result["success"] is True, result
    return result


def _probe(response: requests.Response, _variables: Variables) -> None:
    assert response.status_code == 200 and response.json()["status"] == "ok"


def _version(response: requests.Response, variables: Variables) -> None:
    assert response.status_code == 200
    variables["serverVersion"] = response.json()["version"]
    assert variables["serverVersion"]


def _cleanup(response: requests.Response, _variables: Variables) -> None:
    result = _data(response)["deletePool"]
    assert result["success"] or result["code"] == "POOL_NOT_FOUND", result


def _create(response: requests.Response, variables: Variables) -> None:
    pool = _payload(response, "createPool")["pool"]
    assert (pool["name"], pool["size"], pool["available"], pool["inUse"]) == (
        variables["pool"],
        3,
        3,
        0,
    )
    assert pool["policy"] == {**NO_RULES, "description": "collection run"}


NO_RULES = {
    "defaultTtl": None,
    "maxTtl": None,
    "maxPerOwner": None,
    "reuseDelay": None,
    "reuseFirst": False,
    "description": None,
}


def _pools(response: requests.Response, variables: Variables) -> None:
    names = {pool["name"] for pool in _data(response)["pools"]}
    assert {"default", variables["pool"]} <= names


def _pool(response: requests.Response, _variables: Variables) -> None:
    pool = _data(response)["pool"]
    assert (pool["size"], pool["inUse"], pool["waiting"], pool["available"]) == (3, 0, 0, 3)
    assert pool["cooling"] == 0 and pool["policy"]["description"] == "collection run"


def _acquire(response: requests.Response, variables: Variables) -> None:
    result = _payload(response, "acquireObject")
    lease = result["lease"]
    assert result["replayed"] is False and lease["ttl"] == 60
    assert lease["pool"] == variables["pool"] and lease["obj"] == 1
    assert lease["token"] > 0 and lease["expiresAt"] and lease["label"] == "collection run"
    variables["obj"], variables["leaseToken"] = lease["obj"], lease["token"]


def _acquire_again(response: requests.Response, variables: Variables) -> None:
    result = _payload(response, "acquireObject")
    lease = result["lease"]
    assert (lease["obj"], lease["token"]) == (variables["obj"], variables["leaseToken"])
    assert result["replayed"] is True


def _acquire_named(response: requests.Response, _variables: Variables) -> None:
    assert _payload(response, "acquireObject")["lease"]["obj"] == 3


def _acquire_set(response: requests.Response, variables: Variables) -> None:
    result = _payload(response, "acquireObjects")
    assert [lease["obj"] for lease in result["leases"]] == [1, 2] and not result["replayed"]
    tokens = [lease["token"] for lease in result["leases"]]
    assert tokens[0] < tokens[1]
    variables["setTokens"] = json.dumps(tokens)


def _acquire_set_again(response: requests.Response, variables: Variables) -> None:
    result = _payload(response, "acquireObjects")
    assert [lease["token"] for lease in result["leases"]] == json.loads(variables["setTokens"])
    assert result["replayed"] is True


def _owner_leases(response: requests.Response, variables: Variables) -> None:
    leases = _data(response)["leases"]
    assert [lease["obj"] for lease in leases if lease["pool"] == variables["pool"]] == [1, 2, 3]


def _set_policy(response: requests.Response, _variables: Variables) -> None:
    policy = _payload(response, "setPoolPolicy")["pool"]["policy"]
    assert policy == {
        **NO_RULES,
        "maxTtl": 300,
        "maxPerOwner": 3,
        "reuseDelay": 3600,
        "description": "collection run",
    }


def _revoked(*objs: int) -> Check:
    def check(response: requests.Response, _variables: Variables) -> None:
        revoked = _payload(response, "revokeLeases")["revoked"]
        assert [lease["obj"] for lease in revoked] == list(objs)

    return check


def _cooling(response: requests.Response, _variables: Variables) -> None:
    pool = _data(response)["pool"]
    assert (pool["inUse"], pool["cooling"], pool["available"]) == (1, 2, 0)


def _leases(response: requests.Response, variables: Variables) -> None:
    leases = _data(response)["pool"]["leases"]
    assert [(lease["obj"], lease["token"]) for lease in leases] == [
        (variables["obj"], variables["leaseToken"])
    ]


def _lease(response: requests.Response, variables: Variables) -> None:
    lease = _data(response)["lease"]
    assert lease is not None and lease["token"] == variables["leaseToken"]


def _renew(response: requests.Response, variables: Variables) -> None:
    lease = _payload(response, "renewLease")["lease"]
    assert lease["token"] == variables["leaseToken"]
    left = datetime.fromisoformat(lease["expiresAt"]) - datetime.fromisoformat(lease["acquiredAt"])
    assert left.total_seconds() > 100


def _refused(response: requests.Response, _variables: Variables) -> None:
    result = _data(response)["freeObject"]
    assert (result["success"], result["code"]) == (False, "NOT_ALLOCATED") and result["message"]


def _free(response: requests.Response, variables: Variables) -> None:
    assert _payload(response, "freeObject")["obj"] == variables["obj"]


def _now_free(response: requests.Response, _variables: Variables) -> None:
    assert _data(response)["lease"] is None


def _get_object(response: requests.Response, variables: Variables) -> None:
    obj = _data(response)["getObject"]
    assert isinstance(obj, int) and obj >= 1
    variables["seedObj"] = obj


def _seed_free(response: requests.Response, _variables: Variables) -> None:
    assert _data(response)["freeObject"]["success"] is True


def _resize(response: requests.Response, _variables: Variables) -> None:
    pool = _payload(response, "resizePool")["pool"]
    assert (pool["size"], pool["inUse"], pool["available"] + pool["cooling"]) == (5, 0, 5)


def _delete(response: requests.Response, variables: Variables) -> None:
    assert _payload(response, "deletePool")["pool"]["name"] == variables["pool"]


def _deleted(response: requests.Response, _variables: Variables) -> None:
    assert _data(response)["pool"] is None


def _events(response: requests.Response, variables: Variables) -> None:
    events = _data(response)["events"]
    seqs = [event["seq"] for event in events]
    assert seqs == sorted(set(seqs)), seqs
    run = events[-len(RUN_KINDS) :]
    assert [event["kind"] for event in run] == RUN_KINDS, events
    lease = [variables["obj"], variables["leaseToken"]]
    assert all([event["obj"], event["token"]] == lease for event in run[2:5]), run
    assert [run[0]["size"], run[RUN_KINDS.index("POOL_RESIZED")]["size"]] == [3, 5], run
    revocations = [event for event in run if event["kind"] == "REVOKED"]
    assert {event["reason"] for event in revocations} == {"collection run"}
    assert sorted(event["obj"] for event in revocations) == [1, 2, 3]
    variables["runAfter"] = run[0]["seq"] - 1


# A run stops before it (the `events` script ends the run): it streams until stopped.
STREAMED = "poolEvents (SSE)"
# What the run journals: the repeated acquires and the refused free record nothing; a
# pool created with a policy journals its policy after its creation.
RUN_KINDS = [
    "POOL_CREATED",
    "POLICY_CHANGED",
    "GRANTED",
    "RENEWED",
    "FREED",
    "GRANTED",
    "GRANTED",
    "GRANTED",
    "POLICY_CHANGED",
    "REVOKED",
    "REVOKED",
    "REVOKED",
    "POOL_RESIZED",
    "POOL_DELETED",
]


def _pool_events(response: requests.Response, variables: Variables) -> None:
    """The run's six events, replayed over SSE from `runAfter`; then the stream is closed."""
    try:
        assert response.status_code == 200, f"HTTP {response.status_code}: {response.text}"
        assert response.headers["Content-Type"].startswith("text/event-stream")
        kinds = []
        lines = response.iter_lines(decode_unicode=True)
        for line, _ in zip(lines, range(200), strict=False):
            if line.startswith("data:"):
                event = json.loads(line.removeprefix("data:"))["data"]["poolEvents"]
                assert event["pool"] == variables["pool"], event
                kinds.append(event["kind"])
                if len(kinds) == len(RUN_KINDS):
                    break
        assert kinds == RUN_KINDS
    finally:
        response.close()


def _graphql_version(response: requests.Response, variables: Variables) -> None:
    assert _data(response)["version"] == variables["serverVersion"]


CHECKS: dict[str, Check] = {
    "GET /healthz": _probe,
    "GET /readyz": _probe,
    "GET /version": _version,
    "deletePool (left over from an earlier run)": _cleanup,
    "createPool": _create,
    "pools": _pools,
    "pool": _pool,
    "acquireObject": _acquire,
    "acquireObject (retried with the same requestId)": _acquire_again,
    "leases": _leases,
    "lease": _lease,
    "renewLease": _renew,
    "freeObject (not held: refused)": _refused,
    "freeObject": _free,
    "lease (now free)": _now_free,
    "acquireObject (a named object)": _acquire_named,
    "acquireObjects (contiguous)": _acquire_set,
    "acquireObjects (retried with the same requestId)": _acquire_set_again,
    "leases (one owner's, in every pool)": _owner_leases,
    "setPoolPolicy": _set_policy,
    "revokeLeases (two objects)": _revoked(1, 2),
    "pool (cooling)": _cooling,
    "revokeLeases (by owner)": _revoked(3),
    "getObject": _get_object,
    "freeObject (default pool)": _seed_free,
    "resizePool": _resize,
    "deletePool": _delete,
    "pool (deleted)": _deleted,
    "version": _graphql_version,
    "events": _events,
    STREAMED: _pool_events,
}


def run_collection(base_url: str, token: str = "") -> list[str]:
    """Every request in order; the names of those that ran."""
    collection = load_collection()
    variables: Variables = {v["key"]: v["value"] for v in collection["variable"]}
    variables.update(baseUrl=base_url, token=token)
    ran = []
    with requests.Session() as session:
        for item in flatten(collection["item"]):
            response = _send(session, item, collection["auth"], variables)
            try:
                CHECKS[item["name"]](response, variables)
            except AssertionError as error:
                raise AssertionError(f"request {item['name']!r}: {error}") from error
            ran.append(item["name"])
    return ran
