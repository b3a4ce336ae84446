"""Compiled plans for cached documents: the fast path around graphql-core's `execute`.

Work in progress: `compile_plan` returns None for every operation for now, so
every request takes graphql-core's path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode

if TYPE_CHECKING:
    from ..context import RequestContext

__all__ = ["Plan", "PlanAnswer", "compile_plan"]


@dataclass(frozen=True)
class PlanAnswer:
    """What a plan answers: the HTTP status and the JSON body."""

    #: 200, or 400 when the variables did not fit the operation (nothing ran).
    status: int
    #: What `results.result_body` makes of graphql-core's result for the same request.
    body: dict[str, Any]


class Plan:
    """One operation of a document, compiled to run without graphql-core's executor."""

    def run(
        self,
        context: RequestContext,
        variables: dict[str, Any] | None,
        suggestions: bool = True,
    ) -> PlanAnswer:
        raise NotImplementedError


def compile_plan(
    schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode
) -> Plan | None:
    """The plan of `operation`, or None when graphql-core must run it."""
    return None
