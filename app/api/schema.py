"""The GraphQL schema of the contract, resolved against a `LeaseService`.

The types live in `types.py`, what can be read in `queries.py`, what changes
state in `mutations.py`; this module puts them together.
"""

from __future__ import annotations

import graphene

from .mutations import Mutation
from .outcomes import payload, query_errors
from .queries import Query
from .types import AcquireObjectPayload

schema = graphene.Schema(query=Query, mutation=Mutation, auto_camelcase=True)

# Resolver helpers some callers still import from here.
__all__ = ["AcquireObjectPayload", "Mutation", "Query", "payload", "query_errors", "schema"]
