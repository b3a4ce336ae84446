"""Bounds on every value a client sends, checked before any store is touched."""

from __future__ import annotations

import math
import re
from typing import overload

from .errors import BadUserInput
from .policy import PoolPolicy

MAX_INT = 2**31 - 1
MAX_LABEL = 256
MAX_OWNER = 256
MAX_REQUEST_ID = 128
MAX_PAGE = 1000
MAX_COUNT = 1000
MAX_DESCRIPTION = 1024
MAX_REASON = 256
MAX_REVOKE_OBJS = 1000
# One year: long enough for any lease, short enough that now + ttl stays exact.
MAX_TTL = 365 * 24 * 3600.0
# Pool names go into SQL parameters and Redis keys (inside a `{...}` hash tag),
# so braces and whitespace are kept out.
POOL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")


def pool_name(name: str) -> str:
    if not POOL_NAME.fullmatch(name):
        raise BadUserInput(
            f"pool name {name[:80]!r} must be 1-64 characters of letters, digits, "
            "'_', '.', ':' or '-', starting with a letter or digit"
        )
    return name


def pool_size(size: int) -> int:
    if not 1 <= size <= MAX_INT:
        raise BadUserInput(f"size must be between 1 and {MAX_INT}, got {size}")
    return size


def ttl(value: float | None) -> float | None:
    return _seconds("ttl", value)


def wait(value: float | None, cap: float) -> float:
    if value is None:
        return 0.0
    if not math.isfinite(value) or value < 0:
        raise BadUserInput(f"wait must be 0 or more seconds, got {value}")
    return min(float(value), cap)


def text(field: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise BadUserInput(f"{field} must be at most {limit} characters, got {len(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # JSON can escape a lone surrogate; no store can keep one as text.
        raise BadUserInput(f"{field} holds a lone surrogate, which is not Unicode text") from None
    return value


def label(value: str | None) -> str | None:
    return text("label", value, MAX_LABEL)


def owner(value: str | None) -> str | None:
    return text("owner", value, MAX_OWNER)


def request_id(value: str | None) -> str | None:
    if value == "":
        raise BadUserInput("requestId must not be empty")
    return text("requestId", value, MAX_REQUEST_ID)


def page(first: int, after: int) -> tuple[int, int]:
    if not 0 <= first <= MAX_PAGE:
        raise BadUserInput(f"first must be between 0 and {MAX_PAGE}, got {first}")
    if after < 0:
        raise BadUserInput(f"after must be 0 or more, got {after}")
    return first, after


# Overloaded so that a caller which passes a token is known to get one back.
@overload
def token(value: int) -> int: ...
@overload
def token(value: None) -> None: ...
def token(value: int | None) -> int | None:
    if value is not None and value < 1:
        raise BadUserInput(f"token must be a positive integer, got {value}")
    return value


# A seq is a BigInt like a token; JSON carries it exactly up to 2**53 in most
# clients, far beyond what any journal reaches.
MAX_SEQ = 2**63 - 1


def event_seq(value: int) -> int:
    """An `events(after:)` bound: 0 for the whole journal kept."""
    if not 0 <= value <= MAX_SEQ:
        raise BadUserInput(f"after must be between 0 and {MAX_SEQ}, got {value}")
    return value


def count(value: int) -> int:
    """`acquireObjects(count:)`."""
    if not 1 <= value <= MAX_COUNT:
        raise BadUserInput(f"count must be between 1 and {MAX_COUNT}, got {value}")
    return value


def obj(value: int | None) -> int | None:
    """`acquireObject(obj:)`: 1..size is the store's to check (OUT_OF_RANGE)."""
    if value is not None and not 1 <= value <= MAX_INT:
        raise BadUserInput(f"obj must be between 1 and {MAX_INT}, got {value}")
    return value


def objs(values: list[int] | None) -> frozenset[int] | None:
    """`revokeLeases(objs:)`."""
    if values is None:
        return None
    if len(values) > MAX_REVOKE_OBJS:
        raise BadUserInput(f"objs must list at most {MAX_REVOKE_OBJS} objects, got {len(values)}")
    for value in values:
        obj(value)
    return frozenset(values)


def reason(value: str | None) -> str | None:
    return text("reason", value, MAX_REASON)


def label_prefix(value: str | None) -> str | None:
    return text("labelPrefix", value, MAX_LABEL)


def policy(
    default_ttl: float | None = None,
    max_ttl: float | None = None,
    max_per_owner: int | None = None,
    reuse_delay: float | None = None,
    reuse_first: bool | None = False,
    description: str | None = None,
) -> PoolPolicy:
    """A `PoolPolicyInput`, checked whole: each bound, and `defaultTtl <= maxTtl`."""
    checked_default = _seconds("defaultTtl", default_ttl)
    checked_max = _seconds("maxTtl", max_ttl)
    if checked_default is not None and checked_max is not None and checked_default > checked_max:
        raise BadUserInput(
            f"defaultTtl {checked_default:g} must not be above maxTtl {checked_max:g}"
        )
    if max_per_owner is not None and not 1 <= max_per_owner <= MAX_INT:
        raise BadUserInput(f"maxPerOwner must be between 1 and {MAX_INT}, got {max_per_owner}")
    delay = None
    if reuse_delay is not None:
        if not math.isfinite(reuse_delay) or not 0 <= reuse_delay <= MAX_TTL:
            raise BadUserInput(
                f"reuseDelay must be between 0 and {MAX_TTL:g} seconds, got {reuse_delay}"
            )
        delay = float(reuse_delay) or None
    return PoolPolicy(
        default_ttl=checked_default,
        max_ttl=checked_max,
        max_per_owner=max_per_owner,
        reuse_delay=delay,
        reuse_first=bool(reuse_first),
        description=text("description", description, MAX_DESCRIPTION),
    )


def _seconds(field: str, value: float | None) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0 or value > MAX_TTL:
        raise BadUserInput(
            f"{field} must be more than 0 and at most {MAX_TTL:g} seconds, got {value}"
        )
    return float(value)
