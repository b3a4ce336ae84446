"""What the API tests of several objects, named objects, policies, revocation and
owners' leases share: the client's documents sent through `Api`, an app with auth
on, and a skip for a store that has not the operation yet."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from objmgr_client.operations import (
    ACQUIRE_MANY,
    CREATE_POOL,
    EVENTS,
    LEASES,
    OWNER_LEASES,
    REVOKE,
    SET_POLICY,
)

from app import Settings, create_app
from app.stores.base import Store

from .api_support import Api, _camel
from .conditions import wait_until

# Long enough for production's rules on secrets, as test_api_auth's.
SECRETS = {
    "alice": "alice-s3cret-0123456789",
    "bob": "bob-b0bb0b-0123456789",
    "root": "root-r00t-0123456789",
}


def auth_app(store_url: str, pool_size: int = 3) -> Flask:
    """An app with auth on: alice and bob are principals, root the one admin."""
    return create_app(
        Settings.from_env(
            {
                "OBJMGR_TOKENS": ",".join(f"{name}:{secret}" for name, secret in SECRETS.items()),
                "OBJMGR_ADMINS": "root",
                "OBJMGR_WORKERS": "1",
                "OBJMGR_POOL_SIZE": str(pool_size),
                "OBJMGR_STORE": store_url,
            }
        )
    )


@contextmanager
def principals(store_url: str, pool_size: int = 3) -> Iterator[dict[str, Api]]:
    """`alice`, `bob` and `root` (the admin) on one app with auth on."""
    app = auth_app(store_url, pool_size)
    try:
        yield {name: Api(app, secret) for name, secret in SECRETS.items()}
    finally:
        app.extensions["objmgr"].store.close()


def needs(api: Api, *methods: str) -> None:
    """Skip unless the app's store implements each of `methods` itself (the
    interface's defaults raise NotImplementedError until it does)."""
    store = api.app.extensions["objmgr"].store
    for method in methods:
        if getattr(type(store), method) is getattr(Store, method):
            pytest.skip(f"{type(store).__name__} has no {method} of its own yet")


def variables(arguments: dict[str, Any]) -> dict[str, Any]:
    return {_camel(name): value for name, value in arguments.items()}


def acquire_many(api: Api, count: int, **arguments: Any) -> dict[str, Any]:
    payload: dict[str, Any] = api.data(ACQUIRE_MANY, {"count": count, **variables(arguments)})[
        "acquireObjects"
    ]
    return payload


def objs_of(payload: dict[str, Any]) -> list[int]:
    return [lease["obj"] for lease in payload["leases"]]


def tokens_of(payload: dict[str, Any]) -> list[int]:
    return [lease["token"] for lease in payload["leases"]]


def revoke(api: Api, pool: str = "default", **arguments: Any) -> dict[str, Any]:
    payload: dict[str, Any] = api.data(REVOKE, {"pool": pool, **variables(arguments)})[
        "revokeLeases"
    ]
    return payload


def create_pool(api: Api, name: str, size: int, policy: dict[str, Any] | None) -> dict[str, Any]:
    payload: dict[str, Any] = api.data(CREATE_POOL, {"name": name, "size": size, "policy": policy})[
        "createPool"
    ]
    return payload


def set_policy(api: Api, name: str, policy: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = api.data(SET_POLICY, {"name": name, "policy": policy})[
        "setPoolPolicy"
    ]
    return payload


def pool_leases(api: Api, pool: str = "default", **arguments: Any) -> list[dict[str, Any]]:
    leases: list[dict[str, Any]] = api.data(LEASES, {"name": pool, **variables(arguments)})["pool"][
        "leases"
    ]
    return leases


def owner_leases(api: Api, owner: str, first: int | None = None) -> list[dict[str, Any]]:
    given: dict[str, Any] = {"owner": owner}
    if first is not None:
        given["first"] = first
    leases: list[dict[str, Any]] = api.data(OWNER_LEASES, given)["leases"]
    return leases


def events(api: Api, pool: str = "default", after: int = 0) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.data(EVENTS, {"pool": pool, "after": after, "first": 1000})[
        "events"
    ]
    return found


def last_seq(api: Api, pool: str = "default") -> int:
    found = events(api, pool)
    return int(found[-1]["seq"]) if found else 0


class Waiter:
    """One acquire sent from its own thread, which waits in the pool's queue; its
    answer once it is served or gives up."""

    def __init__(self, send: Callable[[], dict[str, Any]]) -> None:
        self._answer: dict[str, Any] = {}
        self._thread = threading.Thread(target=lambda: self._answer.update(payload=send()))
        self._thread.start()

    def answer(self, timeout: float = 15.0) -> dict[str, Any]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the waiting acquire did not answer"
        return dict(self._answer["payload"])

    def done(self) -> bool:
        return not self._thread.is_alive()


def queued(api: Api, send: Callable[[], dict[str, Any]], pool: str = "default") -> Waiter:
    """`send` from a thread, once it shows in `pool`'s `waiting` (one more than before)."""
    before = (api.stats(pool) or {})["waiting"]
    waiter = Waiter(send)
    wait_until(
        lambda: (api.stats(pool) or {})["waiting"] == before + 1 or waiter.done(),
        what="the acquire to queue",
    )
    assert not waiter.done(), waiter.answer()
    return waiter
