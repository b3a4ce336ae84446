"""The schema's `Subscription` type: what can be watched.

Its one field is executed once per event, with the event as the root value
(`app.api.subscriptions`), so its resolver only hands the root on to the
`Event` type's fields.
"""

from __future__ import annotations

import graphene

from ..pool.events import Event as DomainEvent
from .events import Event
from .types import BigInt, pool_argument


class Subscription(graphene.ObjectType):
    """What can be watched, over GraphQL over Server-Sent Events (a POST to /graphql with
    `Accept: text/event-stream`) or the WebSocket at /graphql (subprotocol
    `graphql-transport-ws`); over plain JSON a subscription is refused with HTTP 400. A
    stream that ends in error gets one last result with an error whose `extensions.code`
    says why (EVENTS_TRIMMED, SLOW_CONSUMER, SHUTTING_DOWN, STORE_UNAVAILABLE); one
    refused before it starts is TOO_MANY_SUBSCRIPTIONS, SHUTTING_DOWN, or an error of the
    document like any operation's."""

    pool_events = graphene.Field(
        graphene.NonNull(Event),
        pool=pool_argument("The name of the pool to watch."),
        after=BigInt(
            description=(
                "Replay the journal's events with a `seq` above this one first, then go on "
                "with the new ones: give the last `seq` received to resume after a dropped "
                "connection with no gap and no repeat. Null (the default): only events "
                "committed from now on. When the journal no longer holds `after + 1` "
                "(OBJMGR_EVENTS_KEEP), the stream ends with EVENTS_TRIMMED instead of "
                "skipping what was trimmed."
            )
        ),
        description=(
            "The pool's events as they are committed, by any worker or host, in `seq` order, "
            "each once: one result per event, within a second of its commit. A pool that "
            "does not exist yet can be watched: its POOL_CREATED comes first. With auth on, "
            "any authenticated principal may watch any pool, as it may read `events`. A "
            "subscriber that does not read fast enough is ended with SLOW_CONSUMER, never "
            "buffered without bound."
        ),
    )

    @staticmethod
    def resolve_pool_events(
        event: DomainEvent, _info: graphene.ResolveInfo, **_arguments: object
    ) -> DomainEvent:
        return event
