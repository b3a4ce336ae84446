"""Two servers that differ only in the fast path, fed the same requests.

`Twins` builds one app whose view runs compiled plans and one whose view runs
graphql-core only, each on a memory store of its own read from one shared
clock, so that tokens, times and every state the requests build are the same on
both sides. `Twins.same` sends a request to both and requires answers that are
the same to the byte's meaning: status, media type, and the body with its key
order and the JSON type of every number.

The strategies below turn the literal documents hypothesis-graphql generates
into the forms clients send: arguments as variables (some with defaults in
the operation), variables of the wrong type, and selections with aliases,
fragments, `__typename` and `@include`/`@skip`.
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
    ArgumentNode,
    BooleanValueNode,
    DirectiveNode,
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    GraphQLInputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NamedTypeNode,
    NameNode,
    NonNullTypeNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableDefinitionNode,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_list_type,
    is_non_null_type,
    parse,
    print_ast,
    visit,
)
from graphql.language import ListTypeNode, TypeNode
from graphql.pyutils import Undefined
from hypothesis import strategies as st
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


# --- documents in the forms clients send them --------------------------------------------


def json_of(value: ValueNode) -> Any:
    """The JSON a client sends as a variable for a literal."""
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, FloatValueNode):
        return float(value.value)
    if isinstance(value, (StringValueNode, EnumValueNode)):
        return value.value
    if isinstance(value, BooleanValueNode):
        return value.value
    if isinstance(value, NullValueNode):
        return None
    if isinstance(value, ListValueNode):
        return [json_of(item) for item in value.values]
    if isinstance(value, ObjectValueNode):
        return {field.name.value: json_of(field.value) for field in value.fields}
    raise TypeError(f"no JSON for {value!r}")


def type_node(type_: GraphQLInputType, nullable: bool = False) -> TypeNode:
    if is_non_null_type(type_):
        inner = type_node(get_nullable_type(type_))  # type: ignore[arg-type]
        return inner if nullable else NonNullTypeNode(type=inner)
    if is_list_type(type_):
        return ListTypeNode(type=type_node(type_.of_type))  # type: ignore[union-attr]
    return NamedTypeNode(name=NameNode(value=get_named_type(type_).name))


@dataclass(frozen=True)
class Site:
    """A literal argument of the document: where it is, its type, whether it has a default."""

    index: int
    type: GraphQLInputType
    has_default: bool
    value: ValueNode


class _Sites(Visitor):
    def __init__(self, type_info: TypeInfo) -> None:
        super().__init__()
        self.type_info = type_info
        self.found: list[Site] = []

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        argument = self.type_info.get_argument()
        if argument is None or isinstance(node.value, VariableNode):
            return
        has_default = argument.default_value is not Undefined
        self.found.append(Site(len(self.found), argument.type, has_default, node.value))


def argument_sites(document: DocumentNode) -> list[Site]:
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    sites = _Sites(type_info)
    visit(document, TypeInfoVisitor(type_info, sites))
    return sites.found


@dataclass(frozen=True)
class Lift:
    """How one literal argument becomes a variable."""

    #: Declared nullable where the argument, non-null, has a default of its own.
    nullable: bool
    #: The literal moves into the operation as the variable's default and the
    #: request leaves the variable out.
    as_default: bool


class _Lifter(Visitor):
    def __init__(self, lifts: dict[int, Lift]) -> None:
        super().__init__()
        self.lifts = lifts
        self.index = -1

    def enter_argument(self, node: ArgumentNode, *_: Any) -> ArgumentNode | None:
        if isinstance(node.value, VariableNode):
            return None
        self.index += 1
        if self.index not in self.lifts:
            return None
        return ArgumentNode(
            name=node.name, value=VariableNode(name=NameNode(value=f"v{self.index}"))
        )


def lifted(
    document: DocumentNode, lifts: dict[int, Lift]
) -> tuple[str, dict[str, Any], list[Site]]:
    """The document with the chosen literals as variables, the variables to send, and
    the sites lifted."""
    sites = [site for site in argument_sites(document) if site.index in lifts]
    rewritten = visit(document, _Lifter(lifts))
    definitions = []
    variables: dict[str, Any] = {}
    for site in sites:
        lift = lifts[site.index]
        name = f"v{site.index}"
        default = None
        if lift.as_default and not isinstance(site.value, NullValueNode):
            default = site.value
        else:
            variables[name] = json_of(site.value)
        nullable = lift.nullable and site.has_default
        definitions.append(
            VariableDefinitionNode(
                variable=VariableNode(name=NameNode(value=name)),
                type=type_node(site.type, nullable=nullable),
                default_value=default,
                directives=(),
            )
        )
    operation = rewritten.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    rewritten = DocumentNode(
        definitions=[
            _with(operation, variable_definitions=tuple(definitions)),
            *rewritten.definitions[1:],
        ]
    )
    return print_ast(rewritten), variables, sites


@st.composite
def with_variables(draw: st.DrawFn, document: DocumentNode) -> tuple[str, dict[str, Any]]:
    """A document with some or all of its literal arguments sent as variables."""
    sites = argument_sites(document)
    lifts: dict[int, Lift] = {}
    for site in sites:
        if draw(st.integers(0, 3)) > 0:
            lifts[site.index] = Lift(
                nullable=draw(st.integers(0, 4)) == 0,
                as_default=draw(st.integers(0, 4)) == 0,
            )
    text, variables, _ = lifted(document, lifts)
    return text, variables


WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.sampled_from(["maxTtl", "x", "reuseFirst"]), st.integers(-1, 3), max_size=2),
)


@st.composite
def bad_variables(draw: st.DrawFn, document: DocumentNode) -> tuple[str, dict[str, Any]]:
    """A document sent with variables of which one is of the wrong type, left out,
    or not declared at all; the servers' answers must still be the same."""
    sites = argument_sites(document)
    lifts = {site.index: Lift(nullable=False, as_default=False) for site in sites}
    text, variables, _ = lifted(document, lifts)
    how = draw(st.sampled_from(["wrong", "missing", "undeclared"]))
    if how == "undeclared" or not variables:
        variables = {**variables, draw(st.sampled_from(["extra", "v0", "v99"])): draw(WRONG_VALUES)}
    elif how == "missing":
        variables.pop(draw(st.sampled_from(sorted(variables))))
    else:
        variables[draw(st.sampled_from(sorted(variables)))] = draw(WRONG_VALUES)
    return text, variables


def _fields_with_selections(node: SelectionSetNode) -> Iterator[SelectionSetNode]:
    yield node
    for selection in node.selections:
        if isinstance(selection, FieldNode) and selection.selection_set is not None:
            yield from _fields_with_selections(selection.selection_set)


DECORATIONS = ["typename", "alias", "include", "skip", "inline", "fragment", "duplicate", "split"]


def _field(name: str, alias: str | None = None) -> FieldNode:
    return FieldNode(
        name=NameNode(value=name),
        alias=NameNode(value=alias) if alias else None,
        arguments=(),
        directives=(),
    )


def _with(node: Any, **changes: Any) -> Any:
    fields = {key: getattr(node, key) for key in node.keys if key != "loc"}
    fields.update(changes)
    return type(node)(**fields)


@st.composite
def decorated(draw: st.DrawFn, document: DocumentNode) -> DocumentNode:
    """The document with one of its selection sets dressed as clients dress them."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    sets = list(_fields_with_selections(operation.selection_set))
    target = draw(st.sampled_from(sets))
    how = draw(st.sampled_from(DECORATIONS))
    selections = list(target.selections)
    position = draw(st.integers(0, len(selections) - 1))
    chosen = selections[position]
    fragments: list[Any] = []
    if how == "typename":
        selections.insert(position, _field("__typename", draw(st.sampled_from([None, "kind"]))))
    elif how == "alias" and isinstance(chosen, FieldNode):
        selections[position] = _with(chosen, alias=NameNode(value="renamed"))
    elif how in ("include", "skip"):
        condition: ValueNode = BooleanValueNode(value=draw(st.booleans()))
        directive = DirectiveNode(
            name=NameNode(value=how),
            arguments=(ArgumentNode(name=NameNode(value="if"), value=condition),),
        )
        selections[position] = _with(chosen, directives=(*(chosen.directives or ()), directive))
    elif how == "inline":
        selections[position] = InlineFragmentNode(
            type_condition=None,
            directives=(),
            selection_set=SelectionSetNode(selections=(chosen,)),
        )
    elif how == "fragment":
        from graphql import FragmentDefinitionNode, FragmentSpreadNode

        parent = _parent_type(document, target)
        if parent is not None:
            fragments.append(
                FragmentDefinitionNode(
                    name=NameNode(value="Part"),
                    type_condition=NamedTypeNode(name=NameNode(value=parent)),
                    variable_definitions=None,
                    directives=(),
                    selection_set=SelectionSetNode(selections=(chosen,)),
                )
            )
            selections[position] = FragmentSpreadNode(name=NameNode(value="Part"), directives=())
    elif how == "duplicate":
        # The same field twice merges into one key of the answer.
        selections.insert(position + 1, chosen)
    elif how == "split" and isinstance(chosen, FieldNode) and chosen.selection_set is not None:
        # One field asked twice for parts of its selection: the answer merges them.
        inner = list(chosen.selection_set.selections)
        half = max(1, len(inner) // 2)
        selections[position : position + 1] = [
            _with(chosen, selection_set=SelectionSetNode(selections=tuple(part)))
            for part in (inner[:half], inner[half:] or inner[:half])
        ]
    replacement = SelectionSetNode(selections=tuple(selections))

    class Swap(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> Any:
            return replacement if node is target else None

    swapped = visit(document, Swap())
    return DocumentNode(definitions=(*swapped.definitions, *fragments))


def with_codes(document: DocumentNode) -> DocumentNode:
    """A mutation with `code` selected in each root payload, so that every refusal shows."""
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    roots = []
    for root in operation.selection_set.selections:
        if isinstance(root, FieldNode) and root.selection_set is not None:
            inner = root.selection_set.selections
            if not any(isinstance(s, FieldNode) and s.name.value == "code" for s in inner):
                root = _with(
                    root, selection_set=SelectionSetNode(selections=(*inner, _field("code")))
                )
        roots.append(root)
    selection_set = SelectionSetNode(selections=tuple(roots))
    return DocumentNode(
        definitions=(_with(operation, selection_set=selection_set), *document.definitions[1:])
    )


def _parent_type(document: DocumentNode, target: SelectionSetNode) -> str | None:
    """The name of the type a selection set selects from."""
    type_info = TypeInfo(GRAPHQL_SCHEMA)
    found: list[str] = []

    class Find(Visitor):
        def enter_selection_set(self, node: SelectionSetNode, *_: Any) -> None:
            if node is target:
                parent = type_info.get_parent_type()
                if parent is not None:
                    found.append(parent.name)

    visit(document, TypeInfoVisitor(type_info, Find()))
    return found[0] if found else None


__all__ = [
    "GRAPHQL_SCHEMA",
    "SECRETS",
    "Answer",
    "Call",
    "Fallbacks",
    "Twins",
    "auth_settings",
    "bad_variables",
    "decorated",
    "open_settings",
    "plan_of",
    "with_codes",
    "with_variables",
]
