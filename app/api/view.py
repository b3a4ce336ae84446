"""`/graphql`: graphql-server's Flask view, with auth, content negotiation, the
document cache, the limits on every request, what a GET may run, and error shaping.

Each distinct document text is parsed, validated and costed once per worker
(`documents.DocumentCache`); every request then checks its operation against
the limits with its own variables before anything runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flask import Request, Response, jsonify
from flask import request as flask_request
from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    OperationType,
    get_operation_ast,
)
from graphql_server.exceptions import GraphQLValidationError
from graphql_server.flask.views import FlaskHTTPRequestAdapter, GraphQLView
from graphql_server.http import GraphQLHTTPResponse, GraphQLRequestData
from graphql_server.http.exceptions import HTTPException
from graphql_server.http.sync_base_view import SyncHTTPRequestAdapter
from graphql_server.http.types import HTTPMethod

from ..request_record import RequestRecord, current_request
from ..service import LeaseService
from .auth import Authenticator, Unauthenticated
from .connection import client_connected
from .context import RequestContext
from .documents import TOO_COMPLEX, VALIDATION_FAILED, DocumentCache
from .errors import error_response
from .get_policy import calls_state_changing_query_field
from .graphiql import graphiql_response
from .negotiation import GRAPHQL_RESPONSE_JSON, JSON, choose
from .operation_names import GRAPHIQL, GRAPHQL, root_fields
from .plans import PlanAnswer
from .results import MAX_QUERY_LENGTH, execute_synchronously, formatted_error, result_body
from .shape import TooComplex
from .sse import event_stream, wants_event_stream
from .subscriptions import SubscriptionGate, SubscriptionRefused, SubscriptionRequest

if TYPE_CHECKING:
    from werkzeug.local import LocalProxy

__all__ = ["MAX_QUERY_LENGTH", "ObjmgrGraphQLView"]

#: The `extensions.code` of each HTTP status a request can be refused with here.
HTTP_CODES = {400: "BAD_REQUEST", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}
#: A subscription sent as a plain JSON request: a client's mistake of transport.
SUBSCRIPTION_OVER_JSON = "BAD_REQUEST"


class RequestAdapter(FlaskHTTPRequestAdapter):
    # Replaces the base class's property: graphql-server asks about six times.
    # Every instance sets its own in __init__, so the class's "" is never read.
    method: HTTPMethod = cast("HTTPMethod", "")

    def __init__(self, request: Request) -> None:
        super().__init__(request)
        # werkzeug does not type the method as one of the HTTP verbs
        self.method = cast("HTTPMethod", request.method.upper())

    @property
    def body(self) -> str:
        try:
            return self.request.get_data().decode()
        except UnicodeDecodeError:
            raise HTTPException(400, "the request body is not UTF-8") from None


class ObjmgrGraphQLView(GraphQLView[RequestContext, None]):
    # One instance serves every request of the worker (it keeps no per-request state):
    # otherwise Flask builds a new view, and with it an empty document cache, per request.
    init_every_request = False

    def __init__(
        self,
        schema: GraphQLSchema,
        service: LeaseService,
        authenticator: Authenticator,
        documents: DocumentCache,
        gate: SubscriptionGate,
        graphiql: bool,
        max_cost: int = 50_000,
        suggestions: bool = True,
        plans: bool = True,
    ) -> None:
        super().__init__(schema=schema, graphql_ide="graphiql" if graphiql else None)
        self.service = service
        self.authenticator = authenticator
        self.documents = documents
        self.gate = gate
        self.max_cost = max_cost
        self.suggestions = suggestions
        #: Whether cached documents run as compiled plans (`plans`), else always by graphql-core.
        self.plans = plans

    # HTTP ---------------------------------------------------------------
    def dispatch_request(self, **_: Any) -> Response:
        # The request itself, not Flask's proxy to it: graphql-server reads
        # its attributes often, and each read through the proxy costs a lookup.
        # Flask types its proxy as the Request it stands for.
        request = cast("LocalProxy[Request]", flask_request)._get_current_object()
        adapter = RequestAdapter(request)
        record = current_request()
        if record is not None:
            # Until the operation is known (execute_request names it).
            record.operation = GRAPHQL
        if self.graphql_ide and self.should_render_graphql_ide(adapter):
            if record is not None:
                record.operation = GRAPHIQL
            return graphiql_response()
        try:
            caller = self.authenticator.caller(request.headers.get("Authorization"))
        except Unauthenticated as error:
            return error_response(
                401, str(error), "UNAUTHENTICATED", {"WWW-Authenticate": 'Bearer realm="objmgr"'}
            )
        if record is not None:
            record.principal = caller.principal
        context = RequestContext(
            request=request,
            caller=caller,
            service=self.service,
            client_connected=client_connected(request.environ),
        )
        accept = request.headers.get("Accept", "")
        if wants_event_stream(accept):
            return self.stream(adapter, context, record)
        media_type = choose(accept) if accept.strip() else JSON
        if media_type is None:
            return error_response(
                406,
                f"the Accept header ({accept[:200]!r}) takes neither "
                f"{GRAPHQL_RESPONSE_JSON} nor {JSON}",
                "NOT_ACCEPTABLE",
            )
        try:
            return self.answer(adapter, context, media_type)
        except HTTPException as error:
            return _http_refusal(error, media_type)

    def answer(self, adapter: RequestAdapter, context: RequestContext, media_type: str) -> Response:
        """The answer to an authenticated request, in `media_type`.

        graphql-server's `run`, less what Flask or this view settle before it
        (OPTIONS, the GraphiQL page), with the caller and the media type handed
        in: an operation refused before it runs is a 400 in either media type.
        """
        request_data = self.request_data(adapter, context)
        response = Response(status=200, content_type=media_type)
        try:
            result = self.execute_request(adapter, request_data, context)
            if isinstance(result, PlanAnswer):
                response.status_code = result.status
                response.set_data(self.encode_json(result.body))
                return response
        except GraphQLValidationError as refusal:
            response.status_code = 400
            result = ExecutionResult(data=None, errors=refusal.errors)
        else:
            if result.errors and result.data is None and all(e.path is None for e in result.errors):
                # Nothing ran: the variables did not fit the document.
                response.status_code = 400
        response.set_data(self.encode_json(self.response_body(result)))
        return response

    def request_data(self, adapter: RequestAdapter, context: RequestContext) -> GraphQLRequestData:
        """The request's query, variables and operation name, checked; raise `HTTPException`."""
        if not self.is_request_allowed(adapter):
            raise HTTPException(405, "GraphQL only supports GET and POST requests.")
        request_data = self.parse_http_body(adapter, context)
        if request_data.variables is not None and not isinstance(request_data.variables, dict):
            raise HTTPException(400, "Variables must be a JSON object")
        if request_data.extensions is not None and not isinstance(request_data.extensions, dict):
            raise HTTPException(400, "Extensions must be a JSON object")
        return request_data

    def stream(
        self, adapter: RequestAdapter, context: RequestContext, record: RequestRecord | None
    ) -> Response:
        """A subscription over Server-Sent Events (`sse`); its refusals are JSON answers."""
        try:
            request_data = self.request_data(adapter, context)
        except HTTPException as error:
            return _http_refusal(error, JSON)
        try:
            subscription = self.gate.open(
                SubscriptionRequest(
                    request_data.query,
                    request_data.variables,
                    request_data.operation_name,
                    request_data.extensions,
                ),
                context.caller,
            )
        except SubscriptionRefused as refusal:
            response = jsonify({"errors": refusal.errors})
            response.status_code = refusal.status
            return response
        if record is not None:
            record.operation = subscription.operation
        return event_stream(subscription, adapter.request.environ)

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

    def parse_http_body(
        self, request: SyncHTTPRequestAdapter, context: RequestContext
    ) -> GraphQLRequestData:
        """graphql-server's, but for a JSON POST Content-Type is read from werkzeug,
        which parsed it already, not again with the email package (about 5 µs)."""
        # Always ours: the view makes a RequestAdapter of every request.
        adapter = cast(RequestAdapter, request)
        if not (request.method == "POST" and adapter.request.mimetype == "application/json"):
            return super().parse_http_body(request, context)
        return self.get_graphql_request_data(
            request, context, self.parse_json(request.body), "http"
        )

    def get_graphql_request_data(
        self,
        request: SyncHTTPRequestAdapter,
        context: RequestContext,
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
        # The protocol (graphql-server's reading of Accept) goes unread: `answer`
        # answers in the type negotiated from Accept.
        return super().get_graphql_request_data(request, context, data, protocol)

    # GraphQL ------------------------------------------------------------
    def execute_request(
        self, adapter: RequestAdapter, request_data: GraphQLRequestData, context: RequestContext
    ) -> ExecutionResult | PlanAnswer:
        """Run the request's operation once it passed every check, by its plan when it
        has one, else by graphql-core; raise
        `GraphQLValidationError` (400) or `HTTPException` when it may not run."""
        # get_graphql_request_data refused every request without a string query.
        assert request_data.query is not None
        prepared = self.documents.get(request_data.query)
        if isinstance(prepared, tuple):
            raise GraphQLValidationError(list(prepared))
        document = prepared.document
        operation = get_operation_ast(document, request_data.operation_name)
        if operation is None:
            name = request_data.operation_name
            _refuse(
                f"the document has no operation named {name!r}"
                if name
                else "the document holds several operations: name one in 'operationName'"
            )
        record = current_request()
        if record is not None:
            record.operation = root_fields(document, operation)
        if operation.operation is OperationType.SUBSCRIPTION:
            _refuse(
                "a subscription is served as a stream: POST it to /graphql with "
                "Accept: text/event-stream (GraphQL over Server-Sent Events), or over the "
                "WebSocket at /graphql (subprotocol graphql-transport-ws)",
                SUBSCRIPTION_OVER_JSON,
            )
        # Only GET and POST get this far (`answer`).
        over_get = adapter.method == "GET"
        if over_get and operation.operation is OperationType.MUTATION:
            raise HTTPException(405, "mutation operations are only accepted over POST")
        try:
            prepared.check_limits(operation, request_data.variables, self.max_cost)
        except TooComplex as refusal:
            _refuse(refusal.message, TOO_COMPLEX)
        if over_get and calls_state_changing_query_field(
            self.schema, document, operation, request_data.variables
        ):
            raise HTTPException(405, "getObject hands out an object: send it over POST")
        plan = prepared.plan(self.schema, operation) if self.plans else None
        if plan is not None:
            return plan.run(context, request_data.variables, self.suggestions)
        return execute_synchronously(
            self.schema,
            document,
            context_value=context,
            variable_values=request_data.variables,
            operation_name=request_data.operation_name,
        )

    def response_body(self, result: ExecutionResult) -> GraphQLHTTPResponse:
        return cast(GraphQLHTTPResponse, result_body(result, self.suggestions))

    def _formatted(self, error: GraphQLError) -> dict[str, Any]:
        return formatted_error(error, self.suggestions)


def _http_refusal(error: HTTPException, media_type: str) -> Response:
    headers = {"Allow": "POST"} if error.status_code == 405 else None
    code = HTTP_CODES.get(error.status_code, "BAD_REQUEST")
    response = error_response(error.status_code, error.reason, code, headers)
    response.content_type = media_type
    return response


def _refuse(message: str, code: str = VALIDATION_FAILED) -> NoReturn:
    """Answer 400 with one error; nothing of the operation runs."""
    raise GraphQLValidationError([GraphQLError(message, extensions={"code": code})])
