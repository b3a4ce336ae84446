"""The failures a client can be told about, one class per `ErrorCode`."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    POOL_EXHAUSTED = "POOL_EXHAUSTED"
    ACQUIRE_TIMEOUT = "ACQUIRE_TIMEOUT"
    NOT_ALLOCATED = "NOT_ALLOCATED"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    OBJECT_HELD = "OBJECT_HELD"
    NOT_OWNER = "NOT_OWNER"
    STALE_TOKEN = "STALE_TOKEN"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    POOL_NOT_FOUND = "POOL_NOT_FOUND"
    POOL_EXISTS = "POOL_EXISTS"
    POOL_IN_USE = "POOL_IN_USE"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    FORBIDDEN = "FORBIDDEN"
    STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"


class PoolError(Exception):
    """A request the pool cannot grant; nothing was changed."""

    code: ErrorCode

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PoolExhausted(PoolError):
    code = ErrorCode.POOL_EXHAUSTED


class AcquireTimeout(PoolError):
    code = ErrorCode.ACQUIRE_TIMEOUT


class NotAllocated(PoolError):
    code = ErrorCode.NOT_ALLOCATED


class OutOfRange(PoolError):
    code = ErrorCode.OUT_OF_RANGE


class ObjectHeld(PoolError):
    """`acquireObject(obj:)` named an object that is held, or cooling."""

    code = ErrorCode.OBJECT_HELD


class QuotaExceeded(PoolError):
    """The owner would hold more live leases of the pool than its `maxPerOwner`."""

    code = ErrorCode.QUOTA_EXCEEDED


class NotOwner(PoolError):
    code = ErrorCode.NOT_OWNER


class StaleToken(PoolError):
    code = ErrorCode.STALE_TOKEN


class PoolNotFound(PoolError):
    code = ErrorCode.POOL_NOT_FOUND


class PoolExists(PoolError):
    code = ErrorCode.POOL_EXISTS


class PoolInUse(PoolError):
    code = ErrorCode.POOL_IN_USE


class BadUserInput(PoolError):
    code = ErrorCode.BAD_USER_INPUT


class Forbidden(PoolError):
    code = ErrorCode.FORBIDDEN


class StoreUnavailable(PoolError):
    """The store could not be reached, and nothing can have changed."""

    code = ErrorCode.STORE_UNAVAILABLE


class OutcomeUnknown(PoolError):
    """The change was sent and its reply lost: it may have been applied.

    A retry with the same request id tells which.
    """

    code = ErrorCode.OUTCOME_UNKNOWN


def pool_not_found(name: str) -> PoolNotFound:
    return PoolNotFound(f"there is no pool named {name!r}")


def exhausted(name: str) -> PoolExhausted:
    return PoolExhausted(f"every object of pool {name!r} is in use")


def out_of_range(name: str, obj: int, size: int) -> OutOfRange:
    return OutOfRange(f"object {obj} is outside 1..{size} of pool {name!r}")


def not_allocated(name: str, obj: int) -> NotAllocated:
    return NotAllocated(f"object {obj} of pool {name!r} is not held")


def object_held(name: str, obj: int) -> ObjectHeld:
    return ObjectHeld(f"object {obj} of pool {name!r} is held")


def object_cooling(name: str, obj: int) -> ObjectHeld:
    return ObjectHeld(
        f"object {obj} of pool {name!r} is cooling: its lease ended by expiry or revocation "
        "less than the pool's reuseDelay ago"
    )


def quota_exceeded(name: str, owner: str, limit: int) -> QuotaExceeded:
    return QuotaExceeded(
        f"owner {owner!r} would hold more than the {limit} leases of pool {name!r} "
        "its maxPerOwner allows"
    )
