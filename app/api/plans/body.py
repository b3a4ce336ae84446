"""The JSON body of a plan's run, as `results.result_body` makes it of graphql-core's result."""

from __future__ import annotations

from typing import Any

from graphql import ExecutionResult, GraphQLError

from ..results import result_body


def body_of(data: dict[str, Any] | None, errors: list[GraphQLError], suggestions: bool) -> Any:
    """The body of a run that got as far as executing (its variables fitted)."""
    if not errors:
        return {"data": data}
    # graphql-core's `build_response` orders the errors so, whatever order
    # the fields ran in; the same key gives the same order here.
    errors.sort(key=lambda error: (error.locations or [], error.path or [], error.message))
    return result_body(ExecutionResult(data, errors), suggestions)


def refused_body(errors: list[GraphQLError], suggestions: bool) -> dict[str, Any]:
    """The body of a run whose variables did not fit: graphql-core leaves these unsorted."""
    return result_body(ExecutionResult(None, errors), suggestions)
