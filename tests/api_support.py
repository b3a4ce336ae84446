"""A GraphQL client over Flask's test client, shared by the API tests.

Every response that passes through it is checked for what must hold whatever
was asked: no 5xx and no traceback in the body.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from objmgr_client.operations import (
    ACQUIRE,
    CREATE_POOL,
    DELETE_POOL,
    FREE,
    LEASE,
    LEASE_FIELDS,
    LEASES,
    POOL,
    POOL_FIELDS,
    POOLS,
    RENEW,
    RESIZE_POOL,
)
from werkzeug.test import TestResponse

from app import Settings, create_app

from .conditions import wait_until

# One pool's leases per request: every pool's at once would cost more than the limit.
POOL_SNAPSHOT = (
    f"query($name: String!) {{ pool(name: $name) {{ {POOL_FIELDS} "
    f"leases(first: 1000) {{ {LEASE_FIELDS} }} }} }}"
)

#: What `POOL_FIELDS` reads of a pool beyond its counts, for a pool whose policy
#: has every rule off and nothing cooling.
NO_RULES: dict[str, Any] = {
    "cooling": 0,
    "policy": {
        "defaultTtl": None,
        "maxTtl": None,
        "maxPerOwner": None,
        "reuseDelay": None,
        "reuseFirst": False,
        "description": None,
    },
}

TRACEBACK_MARKERS = ("Traceback", 'File "')

INTROSPECTION = "{ __schema { queryType { name } } }"


def memory_app(pool_size: int = 3, **settings: Any) -> Flask:
    return create_app(Settings(store="memory://", pool_size=pool_size, workers=1, **settings))


def production_api() -> Api:
    return Api(memory_app(env="production", auth_disabled=True))


def check_response(response: TestResponse, unavailable_ok: bool = False) -> TestResponse:
    """What every answer must be, however bad the request.

    Only a probe reporting the store down (`unavailable_ok`) may answer 503.
    """
    body = response.get_data(as_text=True)
    if unavailable_ok:
        assert response.status_code < 500 or response.status_code == 503, body
    else:
        assert response.status_code < 500, body
    for marker in TRACEBACK_MARKERS:
        assert marker not in body, body
    # A resolver that raised something unforeseen answers 200 with this code.
    answer = response.get_json(silent=True)
    if isinstance(answer, dict) and isinstance(answer.get("errors"), list):
        codes = [(error.get("extensions") or {}).get("code") for error in answer["errors"]]
        assert "INTERNAL_SERVER_ERROR" not in codes, body
    return response


def error_of(response: TestResponse) -> dict[str, Any]:
    """The first error of a JSON error body, checked to be readable and coded."""
    assert response.mimetype in ("application/json", "application/graphql-response+json")
    body = response.get_json()
    assert isinstance(body, dict), body
    errors = body["errors"]
    assert isinstance(errors, list) and errors, body
    error = errors[0]
    assert isinstance(error["message"], str) and error["message"].strip(), body
    assert isinstance(error["extensions"]["code"], str), body
    return error


def code_of(response: TestResponse) -> str:
    return error_of(response)["extensions"]["code"]


class Api:
    """Sends operations to `/graphql` as one client, with or without a bearer secret."""

    def __init__(self, app: Flask, secret: str | None = None) -> None:
        self.app = app
        self.secret = secret

    def as_(self, secret: str | None) -> Api:
        return Api(self.app, secret)

    # HTTP ---------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str = "/graphql",
        headers: dict[str, str] | None = None,
        unavailable_ok: bool = False,
        **kw: Any,
    ) -> TestResponse:
        headers = dict(headers or {})
        if self.secret is not None:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
        # A client per request, so that threads never share one.
        client = self.app.test_client()
        response = client.open(path, method=method, headers=headers, **kw)
        return check_response(response, unavailable_ok)

    def post_body(self, body: Any, **kw: Any) -> TestResponse:
        return self.request("POST", data=json.dumps(body), content_type="application/json", **kw)

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        **kw: Any,
    ) -> TestResponse:
        body: dict[str, Any] = {"query": query}
        if variables is not None:
            body["variables"] = variables
        if operation_name is not None:
            body["operationName"] = operation_name
        return self.post_body(body, **kw)

    def get(self, query: str, **params: str) -> TestResponse:
        return self.request("GET", query_string={"query": query, **params})

    # GraphQL ------------------------------------------------------------
    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The `data` of an operation that must succeed without any error."""
        response = self.post(query, variables)
        body = response.get_json()
        assert response.status_code == 200, body
        assert "errors" not in body, body
        return body["data"]

    def field_error(
        self, query: str, variables: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """`data` and the one error of an operation whose field failed while running."""
        response = self.post(query, variables)
        body = response.get_json()
        assert response.status_code == 200, body
        assert len(body["errors"]) == 1, body
        return body["data"], error_of(response)

    def acquire(self, **arguments: Any) -> dict[str, Any]:
        variables = {_camel(name): value for name, value in arguments.items()}
        return self.data(ACQUIRE, variables)["acquireObject"]

    def free(self, obj: int, **arguments: Any) -> dict[str, Any]:
        return self.data(FREE, {"obj": obj, **arguments})["freeObject"]

    def renew(self, obj: int, token: int, **arguments: Any) -> dict[str, Any]:
        return self.data(RENEW, {"obj": obj, "token": token, **arguments})["renewLease"]

    def lease(self, obj: int, pool: str = "default") -> dict[str, Any] | None:
        return self.data(LEASE, {"obj": obj, "pool": pool})["lease"]

    def stats(self, pool: str = "default") -> dict[str, Any] | None:
        return self.data(POOL, {"name": pool})["pool"]

    def held(self, pool: str = "default") -> list[int]:
        leases = self.data(LEASES, {"name": pool, "first": 1000})["pool"]["leases"]
        return [lease["obj"] for lease in leases]

    def create_pool(self, name: str, size: int) -> dict[str, Any]:
        return self.data(CREATE_POOL, {"name": name, "size": size})["createPool"]

    def resize_pool(self, name: str, size: int) -> dict[str, Any]:
        return self.data(RESIZE_POOL, {"name": name, "size": size})["resizePool"]

    def delete_pool(self, name: str, force: bool | None = None) -> dict[str, Any]:
        variables: dict[str, Any] = {"name": name}
        if force is not None:
            variables["force"] = force
        return self.data(DELETE_POOL, variables)["deletePool"]

    def get_object(self) -> int | None:
        return self.data("{ getObject }")["getObject"]


MakeApi = Callable[..., Api]
"""Makes an app on the test's store: `make(pool_size=3, **settings)`."""


def in_use(api: Api, pool: str = "default") -> int:
    stats = api.stats(pool)
    assert stats is not None
    return stats["inUse"]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def snapshot(api: Api) -> list[dict[str, Any]]:
    """Every pool with its counters and leases: what a refused call must leave alone."""
    names: list[str] = []
    for _ in range(100):
        page = api.data(POOLS, {"first": 1000, "after": names[-1] if names else ""})["pools"]
        names += [pool["name"] for pool in page]
        if len(page) < 1000:
            break
    return [api.data(POOL_SNAPSHOT, {"name": name})["pool"] for name in names]


def refused(payload: dict[str, Any], code: str) -> str:
    """Check a mutation payload is a refusal with `code`; its message."""
    assert payload["success"] is False, payload
    assert payload["code"] == code, payload
    assert isinstance(payload["message"], str) and payload["message"].strip(), payload
    return payload["message"]


def granted(payload: dict[str, Any]) -> dict[str, Any]:
    """Check a mutation payload is a success; the payload."""
    assert payload["success"] is True, payload
    assert payload["code"] is None, payload
    assert payload["message"] is None, payload
    return payload


def served_by_a_free(api: Api, owner: str, obj: int = 1) -> dict[str, Any]:
    """The answer to an acquire by `owner` of `default`, which waits in the queue
    while `obj` is held, once `obj` is freed: the answer of the waiting acquire."""
    outcome: dict[str, Any] = {}
    waiter = threading.Thread(
        target=lambda: outcome.update(payload=api.acquire(owner=owner, wait=10))
    )
    waiter.start()
    try:
        wait_until(lambda: (api.stats() or {})["waiting"] == 1)
        granted(api.free(obj))
    finally:
        waiter.join(15)
    return dict(outcome["payload"])
