"""`subscription { poolEvents(pool, after) { ... } }`: what both transports share.

A subscription document goes through what every document goes through (the
document cache's parse and validation, the shape and cost limits) and is
authorised like a query; then each event of the pool's `WatchHub` stream is
executed against the document's selection and handed to the transport as one
GraphQL result. The transports (`sse`, `websocket`) only carry what this gives.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from graphql import (
    DocumentNode,
    ExecutionContext,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    VariableNode,
    get_operation_ast,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values

from ..pool import limits
from ..pool.errors import BadUserInput
from ..pool.events import Event
from ..pool.lease import Caller
from ..watching import (
    CLOSED,
    TOO_MANY_SUBSCRIPTIONS,
    EventStream,
    StreamEnded,
    WatchHub,
    WatchRefused,
)
from .documents import TOO_COMPLEX, VALIDATION_FAILED, DocumentCache
from .operation_names import root_fields
from .results import (
    MAX_QUERY_LENGTH,
    coded_error,
    execute_synchronously,
    formatted_error,
    result_body,
    synchronous,
)
from .shape import TooComplex

BAD_REQUEST = "BAD_REQUEST"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
#: The HTTP status SSE answers a hub's refusal with: too many is the client's
#: to wait out (429); a worker shutting down or a store down, the server's (503).
REFUSAL_STATUS = {TOO_MANY_SUBSCRIPTIONS: 429}
SERVER_REFUSAL = 503
#: Results kept per worker, for the subscribers of one document that are given one event.
RESULTS_KEPT = 1024


@dataclass(frozen=True)
class SubscriptionRequest:
    """What a client sent: the body of an SSE POST or a `subscribe` message's payload."""

    query: object
    variables: object = None
    operation_name: object = None
    extensions: object = None


class SubscriptionRefused(Exception):
    """Nothing opened. `status` is the HTTP status SSE answers with (400, 413,
    429, 503); `errors` are formatted GraphQL errors, each with
    `extensions.code` (GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
    QUERY_TOO_COMPLEX, BAD_REQUEST, BAD_USER_INPUT, PAYLOAD_TOO_LARGE,
    TOO_MANY_SUBSCRIPTIONS, SHUTTING_DOWN, STORE_UNAVAILABLE)."""

    def __init__(self, status: int, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "refused")
        self.status = status
        self.errors = errors


class SubscriptionEnded(Exception):
    """The stream ended for good; `errors` (formatted, with a code) say why:
    EVENTS_TRIMMED, SLOW_CONSUMER, SHUTTING_DOWN, STORE_UNAVAILABLE. Empty when
    the subscription was closed by its own transport (`close`): nobody to tell."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "ended")
        self.errors = errors


class Subscription:
    """One open subscription: results in order, one per event."""

    def __init__(
        self, stream: EventStream, results: Results, selection: Selection, operation: str
    ) -> None:
        self._stream = stream
        self._results = results
        self._selection = selection
        #: The operation's root field (`poolEvents`), for the logs and the metrics.
        self.operation = operation

    def next(self, timeout: float) -> Result | None:
        """The next result (`{"data": {...}}`, with `errors` beside it when a
        field failed); None when nothing came within `timeout` seconds (the
        transport's cue to send a keepalive). Raises `SubscriptionEnded`.
        The result may be shared with other subscribers: read it, never change it."""
        try:
            event = self._stream.get(timeout)
        except StreamEnded as ended:
            errors = [] if ended.code == CLOSED else [coded_error(ended.message, ended.code)]
            raise SubscriptionEnded(errors) from None
        if event is None:
            return None
        return self._results.of(self._selection, event)

    def close(self) -> None:
        """Idempotent; frees the subscriber's place in the hub at once."""
        self._stream.close()


class Result(Mapping[str, Any]):
    """One event's GraphQL result, encoded once for every subscriber it goes to.

    It reads as the result's JSON object; `json` is that object's text, which
    a WebSocket `next` message wraps with its operation's id, and `sse_frame`
    the whole `next` event of an SSE stream, the same bytes for every stream.
    """

    __slots__ = ("body", "json", "sse_frame")

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.json = json.dumps(body, separators=(",", ":"))
        self.sse_frame = b"event: next\ndata: " + self.json.encode() + b"\n\n"

    def __getitem__(self, key: str) -> Any:
        return self.body[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.body)

    def __len__(self) -> int:
        return len(self.body)


@dataclass(frozen=True)
class Selection:
    """What a subscription selects: its document, operation and variables."""

    #: The document's text, which keys the results with the rest.
    query: str
    document: DocumentNode
    operation_name: str | None
    variables: dict[str, Any] | None
    #: The variables as one text, so that equal selections are one key.
    variables_key: str


class Results:
    """Each event's result for a selection, executed once for all its subscribers.

    The follower hands one event to every subscriber of its pool in the
    worker, and most of them send the same document (a dashboard's, the
    client's): executing it once per subscriber would cost a thousand
    subscribers a thousand executions of every event.
    """

    def __init__(self, schema: GraphQLSchema, suggestions: bool) -> None:
        self._schema = schema
        self._suggestions = suggestions
        self._kept: OrderedDict[tuple[str, str | None, str, Event], Result] = OrderedDict()
        self._lock = threading.Lock()

    def of(self, selection: Selection, event: Event) -> Result:
        key = (selection.query, selection.operation_name, selection.variables_key, event)
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
                return found
        result = execute_synchronously(
            self._schema,
            selection.document,
            root_value=event,
            variable_values=selection.variables,
            operation_name=selection.operation_name,
        )
        # Encoded here, once: the transports send its bytes to every subscriber.
        shared = Result(result_body(result, self._suggestions))
        with self._lock:
            # Another subscriber's greenlet may have executed it meanwhile: one stays.
            shared = self._kept.setdefault(key, shared)
            self._kept.move_to_end(key)
            while len(self._kept) > RESULTS_KEPT:
                self._kept.popitem(last=False)
        return shared


class SubscriptionGate:
    """Opens subscriptions for one worker; built once by `api.register`."""

    def __init__(
        self,
        schema: GraphQLSchema,
        documents: DocumentCache,
        hub: WatchHub,
        max_cost: int,
        suggestions: bool,
    ) -> None:
        self.schema = schema
        self.documents = documents
        self.hub = hub
        self.max_cost = max_cost
        self.suggestions = suggestions
        self.results = Results(schema, suggestions)

    def open(self, request: SubscriptionRequest, caller: Caller) -> Subscription:
        """Check `request` and open it for `caller` (already authenticated by the
        transport); raise `SubscriptionRefused`. A document whose operation is
        a query or mutation is refused here (BAD_REQUEST): those go over POST."""
        query, variables, operation_name = _checked(request)
        prepared = self.documents.get(query)
        if isinstance(prepared, tuple):
            raise SubscriptionRefused(400, [self._formatted(error) for error in prepared])
        document = prepared.document
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            _refuse(
                f"the document has no operation named {operation_name!r}"
                if operation_name
                else "the document holds several operations: name one in 'operationName'",
                VALIDATION_FAILED,
            )
        if operation.operation is not OperationType.SUBSCRIPTION:
            _refuse(
                f"a {operation.operation.value} is not a subscription: send it as a JSON "
                "POST (or GET, for a query) to /graphql, without Accept: text/event-stream",
                BAD_REQUEST,
            )
        try:
            prepared.check_limits(operation, variables, self.max_cost)
        except TooComplex as refusal:
            _refuse(refusal.message, TOO_COMPLEX)
        pool, after, bound = self._arguments(document, operation_name, variables)
        try:
            stream = self.hub.subscribe(pool, after, caller.principal)
        except WatchRefused as refusal:
            status = REFUSAL_STATUS.get(refusal.code, SERVER_REFUSAL)
            raise SubscriptionRefused(
                status, [coded_error(refusal.message, refusal.code)]
            ) from None
        # The variables poolEvents' arguments take choose the stream, not what is
        # selected of each event (no field of Event takes an argument, and neither
        # a String nor a BigInt can stand where @include or @skip want a Boolean):
        # subscribers resuming from different seqs share each event's result.
        selecting = {name: value for name, value in (variables or {}).items() if name not in bound}
        variables_key = json.dumps(selecting, sort_keys=True, default=str)
        selection = Selection(query, document, operation_name, variables, variables_key)
        return Subscription(stream, self.results, selection, root_fields(document, operation))

    def _arguments(
        self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any] | None
    ) -> tuple[str, int | None, frozenset[str]]:
        """`poolEvents`' pool and after, the variables coerced as execution would,
        and the names of the variables its arguments take."""
        context = ExecutionContext.build(
            self.schema,
            document,
            raw_variable_values=variables,
            operation_name=operation_name,
            is_awaitable=synchronous,
        )
        if isinstance(context, list):
            raise SubscriptionRefused(400, [self._formatted(error) for error in context])
        root = self.schema.subscription_type
        assert root is not None  # the document validated against a schema with one
        fields = collect_fields(
            self.schema,
            context.fragments,
            context.variable_values,
            root,
            context.operation.selection_set,
        )
        if not fields:
            _refuse("the subscription selects no field (every one is skipped)", VALIDATION_FAILED)
        # Validation let through exactly one root field (graphql's single-field rule).
        [nodes] = fields.values()
        try:
            arguments = get_argument_values(
                root.fields[nodes[0].name.value], nodes[0], context.variable_values
            )
            pool = limits.pool_name(arguments["pool"])
            after = arguments.get("after")
            bound = frozenset(
                argument.value.name.value
                for argument in nodes[0].arguments
                if isinstance(argument.value, VariableNode)
            )
            return pool, None if after is None else limits.event_seq(after), bound
        except GraphQLError as error:
            raise SubscriptionRefused(400, [self._formatted(error)]) from None
        except BadUserInput as error:
            _refuse(error.message, error.code.value)

    def _formatted(self, error: GraphQLError) -> dict[str, Any]:
        return formatted_error(error, self.suggestions)


def _checked(request: SubscriptionRequest) -> tuple[str, dict[str, Any] | None, str | None]:
    """The request's parts, of the types GraphQL over HTTP asks for."""
    query, variables, operation_name = request.query, request.variables, request.operation_name
    if not query:
        _refuse("send the GraphQL document as 'query'", BAD_REQUEST)
    if not isinstance(query, str):
        _refuse("'query' must be a string", BAD_REQUEST)
    if len(query) > MAX_QUERY_LENGTH:
        raise SubscriptionRefused(
            413,
            [
                coded_error(
                    f"'query' is longer than {MAX_QUERY_LENGTH} characters", PAYLOAD_TOO_LARGE
                )
            ],
        )
    if variables is not None and not isinstance(variables, Mapping):
        _refuse("Variables must be a JSON object", BAD_REQUEST)
    if request.extensions is not None and not isinstance(request.extensions, Mapping):
        _refuse("Extensions must be a JSON object", BAD_REQUEST)
    if operation_name is not None and not isinstance(operation_name, str):
        _refuse("'operationName' must be a string", BAD_REQUEST)
    return query, None if variables is None else dict(variables), operation_name


def _refuse(message: str, code: str) -> NoReturn:
    raise SubscriptionRefused(400, [coded_error(message, code)])
