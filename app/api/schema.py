"""The GraphQL schema of the contract, resolved against a `LeaseService`.

The types live in `types.py`, `policy_types.py`, `payloads.py` and `events.py`,
what can be read in `queries.py`, what changes state in `mutations.py` and
`pool_mutations.py`, what can be watched in `subscription_type.py`; this module
puts them together.
"""

from __future__ import annotations

import graphene

from .mutations import Mutation
from .outcomes import payload, query_errors
from .payloads import AcquireObjectPayload
from .queries import Query
from .subscription_type import Subscription

schema = graphene.Schema(
    query=Query, mutation=Mutation, subscription=Subscription, auto_camelcase=True
)

# Resolver helpers some callers still import from here.
__all__ = [
    "AcquireObjectPayload",
    "Mutation",
    "Query",
    "Subscription",
    "payload",
    "query_errors",
    "schema",
]
