"""Label values that stay bounded whatever clients send.

A label value a client could choose would let it make new series at will, and
every series costs memory in each worker, in every file of the multiprocess
directory and in Prometheus. So:

- `pool` on a lease counter is the pool of a committed event: a pool that
  exists (or existed), made by an admin.
- `pool` on a refusal is the pool's name only when the refusal shows that the
  pool exists (POOL_EXHAUSTED, ACQUIRE_TIMEOUT, OBJECT_HELD, QUOTA_EXCEEDED:
  the store gives each only after it found the pool); every other refusal counts
  under `UNKNOWN_POOL`, since its name may be one the client made up
  (POOL_NOT_FOUND, BAD_USER_INPUT) or one the store was not asked about
  (STORE_UNAVAILABLE, OUTCOME_UNKNOWN). `code` is one of `ErrorCode`.
- `operation` is a root field of the schema, `SEVERAL` for an operation of more
  than one (the log line names them all: as a label, their combinations would
  be many), "graphql" for a request refused before its operation was known, or
  the endpoint's name.
"""

from __future__ import annotations

from ..pool.errors import ErrorCode

#: Cannot be a pool's name: names start with a letter or a digit.
UNKNOWN_POOL = "_unknown"

#: Refusals that the store gives only for a pool it holds.
POOL_SHOWN_TO_EXIST = frozenset(
    {
        ErrorCode.POOL_EXHAUSTED,
        ErrorCode.ACQUIRE_TIMEOUT,
        ErrorCode.OBJECT_HELD,
        ErrorCode.QUOTA_EXCEEDED,
    }
)

#: The `operation` of a GraphQL operation of several root fields.
SEVERAL = "several"


def operation_label(operation: str) -> str:
    """The label of a request's operation as its record names it (`pool+pools`: several)."""
    return SEVERAL if "+" in operation else operation


def refusal_pool(pool: str, code: ErrorCode) -> str:
    return pool if code in POOL_SHOWN_TO_EXIST else UNKNOWN_POOL
