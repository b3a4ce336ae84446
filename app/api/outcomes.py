"""How a domain failure reaches the client: a query field's as a GraphQL error with
`extensions.code`, a mutation's as payload data (`success: false`, `code`, `message`).

Every resolver that can meet a `PoolError` goes through one of the two, so no
`PoolError` ever reaches the view's error formatting.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import graphene
from graphql import GraphQLError

from ..pool.errors import PoolError

T = TypeVar("T")


def query_errors(resolver: Callable[..., T]) -> Callable[..., T]:
    """Turn a domain failure of a query field into a GraphQL error with a code."""

    @wraps(resolver)
    def resolve(*args: Any, **kwargs: Any) -> T:
        try:
            return resolver(*args, **kwargs)
        except PoolError as error:
            raise GraphQLError(error.message, extensions={"code": error.code.value}) from error

    return resolve


def payload(kind: type[graphene.ObjectType], field: str, action: Callable[[], Any]) -> Any:
    """Run `action`; its result fills `field`, a domain failure fills `code`."""
    try:
        return kind(success=True, **{field: action()})
    except PoolError as error:
        return kind(success=False, code=error.code.value, message=error.message)


def payload_fields(
    kind: type[graphene.ObjectType],
    action: Callable[[], dict[str, Any]],
    failed: dict[str, Any],
) -> Any:
    """Run `action`; the fields it returns fill the payload, a domain failure fills
    `code` and `message` with `failed`'s values for the fields a failure cannot leave
    null (an empty list, `replayed: false`)."""
    try:
        return kind(success=True, **action())
    except PoolError as error:
        return kind(success=False, code=error.code.value, message=error.message, **failed)
