"""What a client reads back of a GraphQL result, the same over every transport."""

from __future__ import annotations

import logging
import re
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, execute

log = logging.getLogger(__name__)

# graphql-core's validation messages end with suggestions of names from the
# schema (" Did you mean 'getObject'?"): with introspection off they would
# tell what introspection does not. Only names follow "Did you mean".
_NAME = r"'[_A-Za-z][_0-9A-Za-z]*'"
SUGGESTION = re.compile(
    rf" Did you mean (?:the enum value |to use an inline fragment on )?"
    rf"(?:{_NAME}|{_NAME} or {_NAME}|(?:{_NAME}, )+or {_NAME})\?$"
)


def without_suggestions(message: str) -> str:
    return SUGGESTION.sub("", message)


#: The longest document text served, over POST, GET, SSE and the WebSocket.
MAX_QUERY_LENGTH = 64 * 1024


def formatted_error(error: GraphQLError, suggestions: bool) -> dict[str, Any]:
    """An error as the client reads it, always with an `extensions.code`.

    Domain failures carry their code already (`outcomes`); one without a
    code is graphql-core's refusal of a value, or a resolver's bug, whose
    details go to the log and never to the client.
    """
    formatted: dict[str, Any] = dict(error.formatted)
    extensions = dict(formatted.get("extensions") or {})
    cause = error.original_error
    if "code" not in extensions:
        if cause is None or isinstance(cause, GraphQLError):
            extensions["code"] = "BAD_USER_INPUT"
        else:
            log.error("resolver failed", exc_info=cause)
            formatted["message"] = "internal error; the server log has the details"
            extensions["code"] = "INTERNAL_SERVER_ERROR"
    if not suggestions:
        formatted["message"] = without_suggestions(formatted["message"])
    formatted["extensions"] = extensions
    return formatted


def result_body(result: ExecutionResult, suggestions: bool) -> dict[str, Any]:
    """`{"data": ...}`, with `errors` beside it when there are any."""
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [formatted_error(error, suggestions) for error in result.errors]
    return body


def coded_error(message: str, code: str) -> dict[str, Any]:
    """One error of the API's shape that no GraphQL error stands behind."""
    return {"message": message, "extensions": {"code": code}}


def synchronous(_value: object) -> bool:
    """graphql-core's `is_awaitable` for this schema: every resolver returns its
    value, and the default check, run for every field, would look for awaitables
    that never come."""
    return False


def execute_synchronously(
    schema: GraphQLSchema, document: DocumentNode, **arguments: Any
) -> ExecutionResult:
    """graphql-core's `execute`, told that no resolver returns an awaitable."""
    result = execute(schema, document, is_awaitable=synchronous, **arguments)
    if not isinstance(result, ExecutionResult):
        raise TypeError("a resolver returned an awaitable; objmgr executes synchronously")
    return result
