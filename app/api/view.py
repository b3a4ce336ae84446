"""`/graphql`: graphql-server's Flask view, with auth, a document cache and
error shaping.

Parsing and validating a document costs about fifty times more than running
it, and clients send the same few documents over and over, so each distinct
document text is parsed and validated once per worker.
"""

from __future__ import annotations

import functools
import json
import logging
import select
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Request, Response, g
from flask import request as flask_request
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.validation import NoSchemaIntrospectionCustomRule
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.flask.views import FlaskHTTPRequestAdapter, GraphQLView
from graphql_server.http import GraphQLHTTPResponse, GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from graphql_server.http.sync_base_view import SyncHTTPRequestAdapter

from ..pool.errors import PoolError
from ..service import LeaseService
from .auth import Authenticator, Unauthenticated
from .errors import error_response

log = logging.getLogger(__name__)

MAX_QUERY_LENGTH = 64 * 1024
# Validation grows with the square of repeated fields (about 0.4 s at this
# bound); the contract's operations need a few dozen tokens.
MAX_TOKENS = 2000
GRAPHIQL_PAGE = Path(__file__).with_name("templates") / "graphiql.html"
HTTP_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class RequestAdapter(FlaskHTTPRequestAdapter):
    method = ""  # replaces the base class's property: graphql-server asks about six times

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        self.method = request.method.upper()

    @property
    def body(self) -> str:
        try:
            return self.request.get_data().decode()
        except UnicodeDecodeError:
            raise HTTPException(400, "the request body is not UTF-8") from None


class DocumentCache:
    """Parsed and validated documents by their text, failures included."""

    def __init__(self, schema: GraphQLSchema, introspection: bool, size: int = 1024) -> None:
        self._schema = schema
        self._rules = tuple(specified_rules)
        if not introspection:
            self._rules += (NoSchemaIntrospectionCustomRule,)
        self.get = functools.lru_cache(maxsize=size)(self._load)

    def _load(self, query: str) -> DocumentNode | tuple[GraphQLError, ...]:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return (_with_code(error, "GRAPHQL_PARSE_FAILED"),)
        errors = validate(self._schema, document, self._rules)
        if errors:
            return tuple(_with_code(error, "GRAPHQL_VALIDATION_FAILED") for error in errors)
        return document


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=error.original_error,
        extensions={**(error.extensions or {}), "code": code},
    )


class ObjmgrGraphQLView(GraphQLView):
    request_adapter_class = RequestAdapter
    # One instance serves every request of the worker (it keeps no per-request state):
    # otherwise Flask builds a new view, and with it an empty document cache, per request.
    init_every_request = False

    def __init__(
        self,
        schema: GraphQLSchema,
        service: LeaseService,
        authenticator: Authenticator,
        documents: DocumentCache,
        graphiql: bool,
    ) -> None:
        super().__init__(schema=schema, graphql_ide="graphiql" if graphiql else None)
        self.service = service
        self.authenticator = authenticator
        self.documents = documents

    # HTTP ---------------------------------------------------------------
    def dispatch_request(self, **_: Any) -> Response:
        # The request itself, not Flask's proxy to it: graphql-server reads
        # its attributes often, and each read through the proxy costs a lookup.
        request = flask_request._get_current_object()
        adapter = self.request_adapter_class(request)
        if self.graphql_ide and self.should_render_graphql_ide(adapter):
            # The page holds no data; the operations it sends are authenticated.
            return self.render_graphql_ide(request, None)
        try:
            g.caller = self.authenticator.caller(request.headers.get("Authorization"))
        except Unauthenticated as error:
            return error_response(
                401, str(error), "UNAUTHENTICATED", {"WWW-Authenticate": 'Bearer realm="objmgr"'}
            )
        try:
            return self.run(request=request)
        except HTTPException as error:
            headers = {"Allow": "POST"} if error.status_code == 405 else None
            code = HTTP_CODES.get(error.status_code, "BAD_REQUEST")
            return error_response(error.status_code, error.reason, code, headers)

    def decode_json(self, data: str | bytes) -> object:
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError):
            # Nested deeper than the decoder's stack, or an integer longer than
            # Python converts: a client error, never a 500.
            raise HTTPException(
                400, "the JSON is nested too deeply or holds a number too long to read"
            ) from None

    def render_graphql_ide(self, request: Request, request_data: Any) -> Response:
        return Response(_graphiql_page(), content_type="text/html; charset=utf-8")

    def get_context(self, request: Request, response: Response) -> dict[str, Any]:
        return {
            "request": request,
            "response": response,
            "caller": g.caller,
            "service": self.service,
            "client_connected": _client_connected(request.environ),
        }

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter, context: dict[str, Any]
    ) -> GraphQLRequestData:
        """graphql-server's, but for a JSON POST Content-Type is read from werkzeug,
        which parsed it already, not again with the email package (about 5 µs)."""
        if not (request.method == "POST" and request.request.mimetype == "application/json"):
            return super().parse_http_body(request, context)
        accept = request.headers.get("accept", "") or request.headers.get("http-accept", "")
        protocol = "http-strict" if "application/graphql-response+json" in accept else "http"
        return self.get_graphql_request_data(
            request, context, self.parse_json(request.body), protocol
        )

    def get_graphql_request_data(
        self,
        request: SyncHTTPRequestAdapter,
        context: dict[str, Any],
        data: Any,
        protocol: Any,
    ) -> GraphQLRequestData:
        if not isinstance(data, dict):
            raise HTTPException(400, "the request body must be a JSON object")
        query, operation_name = data.get("query"), data.get("operationName")
        if not query:
            raise HTTPException(400, "send the GraphQL document as 'query'")
        if not isinstance(query, str):
            raise HTTPException(400, "'query' must be a string")
        if len(query) > MAX_QUERY_LENGTH:
            raise HTTPException(413, f"'query' is longer than {MAX_QUERY_LENGTH} characters")
        if operation_name is not None and not isinstance(operation_name, str):
            raise HTTPException(400, "'operationName' must be a string")
        return super().get_graphql_request_data(request, context, data, protocol)

    # GraphQL ------------------------------------------------------------
    def execute_operation(
        self,
        request_adapter: SyncHTTPRequestAdapter,
        request_data: GraphQLRequestData,
        context: dict[str, Any],
        root_value: Any,
        allowed_operation_types: set[OperationType],
    ) -> ExecutionResult:
        document = self.documents.get(request_data.query)
        if isinstance(document, tuple):
            context["response"].status_code = 400
            raise GraphQLValidationError(list(document))
        operation = get_operation_ast(document, request_data.operation_name)
        if operation is None:
            context["response"].status_code = 400
            name = request_data.operation_name
            raise GraphQLValidationError(
                [
                    GraphQLError(
                        f"the document has no operation named {name!r}"
                        if name
                        else "the document holds several operations: name one in 'operationName'",
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                    )
                ]
            )
        if operation.operation is OperationType.SUBSCRIPTION:
            context["response"].status_code = 400
            raise GraphQLValidationError(
                [
                    GraphQLError(
                        "objmgr has no subscriptions",
                        extensions={"code": "GRAPHQL_VALIDATION_FAILED"},
                    )
                ]
            )
        if operation.operation not in allowed_operation_types:
            raise HTTPException(
                405, f"{operation.operation.value} operations are only accepted over POST"
            )
        result = execute(
            self.schema,
            document,
            root_value=root_value,
            context_value=context,
            variable_values=request_data.variables,
            operation_name=request_data.operation_name,
            is_awaitable=_synchronous,
        )
        if context.get("refused_over_get"):
            raise HTTPException(405, "getObject hands out an object: send it over POST")
        if result.errors and result.data is None and all(e.path is None for e in result.errors):
            # Nothing ran: the variables did not fit the document.
            context["response"].status_code = 400
        return result  # type: ignore[return-value]

    def process_result(
        self, request: Request, result: ExecutionResult, strict: bool = False
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [_format_error(error) for error in result.errors]
        return response


def _synchronous(_value: object) -> bool:
    # Every resolver of the schema returns its value: graphql-core's default
    # check, run for every field, would look for awaitables that never come.
    return False


def _format_error(error: GraphQLError) -> dict[str, Any]:
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    cause = error.original_error
    if "code" not in extensions:
        if cause is None or isinstance(cause, GraphQLError):
            extensions["code"] = "BAD_USER_INPUT"
        elif isinstance(cause, PoolError):
            extensions["code"] = cause.code.value
        else:
            log.error("resolver failed", exc_info=cause)
            formatted["message"] = "internal error; the server log has the details"
            extensions["code"] = "INTERNAL_SERVER_ERROR"
    formatted["extensions"] = extensions
    return formatted


def _client_connected(environ: dict[str, Any]) -> Callable[[], bool]:
    """Whether the client of this request still listens, asked without blocking.

    A closed connection reads as ready with nothing to read. gunicorn hands
    the socket over in the WSGI environ; without it (the test client) the
    client is taken to be there. The peek uses poll, not select: select
    cannot watch a descriptor at or above FD_SETSIZE (1024), and a worker
    holding a thousand waiters hands out such descriptors.
    """
    sock = environ.get("gunicorn.socket")
    if sock is None:
        return lambda: True

    def connected() -> bool:
        try:
            poller = _native_poll()
            poller.register(sock.fileno(), select.POLLIN | select.POLLPRI)
            # A timeout of zero never blocks, so the native poll is safe under gevent.
            ready = poller.poll(0)
            return not ready or sock.recv(1, socket.MSG_PEEK) != b""
        except (OSError, ValueError):
            return False

    return connected


def _find_native_poll() -> Callable[[], Any]:
    """The C library's poll, even where gevent has replaced `select.poll`."""
    try:
        from gevent.monkey import get_original
    except ImportError:  # pragma: no cover - gevent is a dependency of the server
        return select.poll
    return get_original("select", "poll")


_native_poll = _find_native_poll()


@functools.lru_cache(maxsize=1)
def _graphiql_page() -> str:
    return GRAPHIQL_PAGE.read_text(encoding="utf-8")
