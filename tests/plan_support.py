"""Two servers that differ only in the fast path, fed the same requests.

`Twins` builds one app whose view runs compiled plans and one whose view runs
graphql-core only, each on a memory store of its own read from one shared
clock, so that tokens, times and every state the requests build are the same on
both sides. `Twins.same` sends a request to both and requires answers that are
the same in meaning to the byte: status, media type, and the body with its key
order and the JSON type of every number. `path_taken` tells whether the server
with plans ran a request's operation as a plan, and `Fallbacks` counts it all.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask
from graphql import (
    GraphQLSchema,
    get_operation_ast,
    parse,
)
from werkzeug.test import TestResponse

from app import Settings
from app.api.auth import Authenticator
from app.api.documents import DocumentCache, Prepared
from app.api.errors import register_error_handlers
from app.api.plans import Plan, compile_plan, why_not_compiled
from app.api.schema import schema
from app.api.subscriptions import SubscriptionGate
from app.api.view import ObjmgrGraphQLView
from app.flask_app import ObjmgrFlask
from app.service import LeaseService
from app.stores.memory import MemoryStore
from app.watching import WatchHub, WatchLimits

from .api_support import Api
from .conftest import Clock

GRAPHQL_SCHEMA: GraphQLSchema = schema.graphql_schema

#: Bearer secrets of the principals an auth-on pair knows; `root` is the admin.
SECRETS = {"alice": "alice-secret", "bob": "bob-secret", "root": "root-secret"}


def auth_settings(**options: Any) -> Settings:
    tokens = {name: hashlib.sha256(secret.encode()).digest() for name, secret in SECRETS.items()}
    return Settings(
        store="memory://", workers=1, tokens=tokens, admins=frozenset({"root"}), **options
    )


def open_settings(**options: Any) -> Settings:
    return Settings(store="memory://", workers=1, **options)


#: One document cache per side and per setting of introspection, kept across pairs:
#: parsing and validating costs more than a case's requests, and a cached
#: document with its plans holds nothing of the store it ran on.
_DOCUMENT_CACHES: dict[tuple[bool, bool], DocumentCache] = {}


def document_cache(introspection: bool, plans: bool) -> DocumentCache:
    key = (introspection, plans)
    if key not in _DOCUMENT_CACHES:
        _DOCUMENT_CACHES[key] = DocumentCache(GRAPHQL_SCHEMA, introspection=introspection)
    return _DOCUMENT_CACHES[key]


def plan_app(settings: Settings, clock: Clock, plans: bool) -> Flask:
    """`/graphql` as `app.api.register` serves it, on a memory store read from `clock`,
    with the fast path on or off; the routes the comparison never asks for are left out."""
    app = ObjmgrFlask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]
    store = MemoryStore(
        default_pool=("default", settings.pool_size),
        clock=clock,
        events_keep=settings.events_keep,
    )
    store.open()
    service = LeaseService(store, max_wait=settings.max_wait)
    app.extensions["objmgr"] = service
    documents = document_cache(settings.introspection, plans)
    app.extensions["objmgr.documents"] = documents
    hub = WatchHub(store, WatchLimits(per_worker=1, per_principal=1))
    gate = SubscriptionGate(
        GRAPHQL_SCHEMA,
        documents,
        hub,
        max_cost=settings.max_cost,
        suggestions=settings.introspection,
    )
    blueprint = Blueprint("graphql", __name__, url_prefix="/graphql")
    view = ObjmgrGraphQLView.as_view(
        "graphql",
        schema=GRAPHQL_SCHEMA,
        service=service,
        authenticator=Authenticator(settings),
        documents=documents,
        gate=gate,
        graphiql=settings.graphiql,
        max_cost=settings.max_cost,
        suggestions=settings.introspection,
        plans=plans,
    )
    blueprint.add_url_rule("", view_func=view, methods=["GET", "POST"])
    app.register_blueprint(blueprint)
    register_error_handlers(app)
    return app


class Pairs(list[tuple[str, Any]]):
    """A JSON object as read, its keys in the order they were sent."""


def exact(value: Any) -> Any:
    """A parsed JSON value whose equality sees what `==` does not: key order,
    and 1 against 1.0 or true."""
    if isinstance(value, Pairs):
        return ("object", [(key, exact(item)) for key, item in value])
    if isinstance(value, list):
        return ("array", [exact(item) for item in value])
    return (type(value).__name__, value)


def read_exactly(response: TestResponse) -> Any:
    text = response.get_data(as_text=True)
    try:
        return exact(json.loads(text, object_pairs_hook=Pairs))
    except ValueError:
        return ("text", text)


@dataclass(frozen=True)
class Call:
    """One request, as both servers get it."""

    query: str
    variables: dict[str, Any] | None = None
    operation_name: str | None = None
    #: A principal of `SECRETS`; None sends no Authorization header.
    caller: str | None = None
    method: str = "POST"


@dataclass(frozen=True)
class Answer:
    status: int
    mimetype: str
    body: Any
    #: The body as sent, for the report of a difference.
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Twins:
    """A server with plans and one without, on stores that stay in the same state."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.clock = clock or Clock()
        self.settings = settings
        self.fast = plan_app(settings, self.clock, plans=True)
        self.core = plan_app(settings, self.clock, plans=False)
        #: Every request compared and its answer, for the counts of paths and codes.
        self.calls: list[Call] = []
        self.answers: list[Answer] = []

    def close(self) -> None:
        for app in (self.fast, self.core):
            app.extensions["objmgr"].store.close()

    def send(self, app: Flask, call: Call) -> Answer:
        secret = SECRETS[call.caller] if call.caller is not None else None
        api = Api(app, secret)
        if call.method == "GET":
            params = {} if call.variables is None else {"variables": json.dumps(call.variables)}
            if call.operation_name is not None:
                params["operationName"] = call.operation_name
            response = api.get(call.query, **params)
        else:
            response = api.post(call.query, call.variables, call.operation_name)
        return Answer(
            response.status_code,
            response.mimetype or "",
            read_exactly(response),
            response.get_data(as_text=True),
        )

    def same(self, call: Call) -> Answer:
        """The answer both servers gave `call`; fails unless they gave the same one."""
        fast = self.send(self.fast, call)
        core = self.send(self.core, call)
        assert (fast.status, fast.mimetype, fast.body) == (core.status, core.mimetype, core.body), (
            f"the plan and graphql-core answered differently\n"
            f"call: {call!r}\n"
            f"plan ({fast.status} {fast.mimetype}): {fast.text}\n"
            f"core ({core.status} {core.mimetype}): {core.text}"
        )
        self.calls.append(call)
        self.answers.append(core)
        return core

    def same_state(self) -> None:
        """Fails unless both stores hold the same pools, leases and journals: a change
        that one side made and its answer did not show."""
        assert state_of(self.fast) == state_of(self.core), self.calls


def state_of(app: Flask) -> list[Any]:
    store = app.extensions["objmgr"].store
    return [
        (pool, store.leases(pool.name, 1000, 0), store.events(pool.name, 0, 1000))
        for pool in store.pools(1000, "")
    ]


# --- which operations take a plan ------------------------------------------------------


def plan_of(query: str, operation_name: str | None = None) -> Plan | None:
    """The plan `compile_plan` makes of a document's operation; None when it falls back."""
    document = parse(query)
    operation = get_operation_ast(document, operation_name)
    assert operation is not None, query
    return compile_plan(GRAPHQL_SCHEMA, document, operation)


#: What `path_taken` says of a request whose operation never reached the executor.
REFUSED_BEFORE = "(refused before running: parse, validation, operation, limits or method)"
PLANNED = "(took a plan)"


def path_taken(app: Flask, call: Call) -> str:
    """What the server did with `call`'s operation: `PLANNED`, `REFUSED_BEFORE`, or
    the reason compile_plan gave for leaving it to graphql-core."""
    entry = app.extensions["objmgr.documents"].get(call.query)
    if not isinstance(entry, Prepared):
        return REFUSED_BEFORE
    operation = get_operation_ast(entry.document, call.operation_name)
    if operation is None:
        return REFUSED_BEFORE
    name = operation.name.value if operation.name else None
    if name not in entry.plans:
        return REFUSED_BEFORE
    if entry.plans[name] is not None:
        return PLANNED
    reason = why_not_compiled(GRAPHQL_SCHEMA, entry.document, operation)
    assert reason is not None, f"compile_plan gave no plan and no reason: {call.query}"
    return reason


class Fallbacks:
    """How the requests compared were run by the server with plans, by path."""

    def __init__(self) -> None:
        self.paths: Counter[str] = Counter()
        self.codes: Counter[str] = Counter()

    def note(self, pair: Twins) -> None:
        """Count the paths and codes of every request `pair` compared."""
        for call, answer in zip(pair.calls, pair.answers, strict=True):
            self.paths[path_taken(pair.fast, call)] += 1
            core = pair.core.extensions["objmgr.documents"].get(call.query)
            assert not isinstance(core, Prepared) or not core.plans, "plans=False compiled one"
            self.codes.update(f"{answer.status} {code}" for code in codes_in(answer.json()))

    def report(self) -> str:
        total = sum(self.paths.values())
        lines = [f"{total} requests compared, by the path the server with plans took:"]
        lines += [f"  {count:5d}  {path}" for path, count in self.paths.most_common()]
        lines.append("status and code of the answers (errors' and payloads' codes):")
        lines += [f"  {count:5d}  {code}" for code, count in sorted(self.codes.items())]
        return "\n".join(lines)


def codes_in(body: Any) -> Iterator[str]:
    """The `extensions.code` of each error and the `code` of each failed payload."""
    if not isinstance(body, dict):
        return
    for error in body.get("errors") or []:
        yield f"error {(error.get('extensions') or {}).get('code')}"
    pending = [body.get("data")]
    for _ in range(100_000):
        if not pending:
            return
        value = pending.pop()
        if isinstance(value, dict):
            if value.get("success") is False:
                yield f"payload {value.get('code', '(code not selected)')}"
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


__all__ = [
    "GRAPHQL_SCHEMA",
    "PLANNED",
    "REFUSED_BEFORE",
    "SECRETS",
    "Answer",
    "Call",
    "Fallbacks",
    "Pairs",
    "Twins",
    "auth_settings",
    "exact",
    "open_settings",
    "path_taken",
    "plan_of",
]
