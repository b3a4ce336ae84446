"""The media type of a `/graphql` answer, chosen from the request's `Accept`.

GraphQL over HTTP serves `application/graphql-response+json` and, for legacy
clients, `application/json`. The one of higher quality wins; `q=0` means not
acceptable. Each type takes the quality of the most specific range that
matches it (`application/graphql-response+json;q=0, */*` refuses it even though
`*/*` would take it). At equal quality an explicitly named type goes before one
only a wildcard reaches, and between two named types
`application/graphql-response+json` goes first, as the specification prefers.
A client that names neither (no `Accept`, `*/*`, `application/*`) gets
`application/json`: curl, the seed's clients and every client older than the
newer type take that, and none of them would look for the other.
"""

from __future__ import annotations

import functools

from werkzeug.datastructures import MIMEAccept
from werkzeug.http import parse_accept_header

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"
# Preferred first when both are named with the same quality.
SERVED = (GRAPHQL_RESPONSE_JSON, JSON)
# Parameters other than q that still match what is served.
UTF_8 = ("utf-8", "utf8")


# Clients send the same few headers over and over; reading one costs tens of µs.
@functools.lru_cache(maxsize=256)
def choose(header: str) -> str | None:
    """The type to answer a request with this `Accept` in, or None when neither is (406).

    A request without `Accept` is answered in `JSON` without asking.
    """
    accept = parse_accept_header(header, MIMEAccept)
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for preference, media_type in enumerate(SERVED):
        quality, specificity = _quality(accept, media_type)
        if quality <= 0:
            continue
        # At equal quality and specificity: a wildcard reached both, so the
        # legacy type; both were named, so the newer one.
        tie_break = -preference if specificity == 2 else preference
        rank = (quality, specificity, tie_break)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen


def _quality(accept: MIMEAccept, media_type: str) -> tuple[float, int]:
    """The quality of the most specific range matching `media_type`, and how specific it is."""
    wanted_type, wanted_subtype = media_type.split("/")
    found_quality, found_specificity = 0.0, -1
    for value, quality in accept:
        essence, *parameters = (part.strip().lower() for part in value.split(";"))
        kind, _, subtype = essence.partition("/")
        if kind == "*" and subtype == "*":
            specificity = 0
        elif kind == wanted_type and subtype == "*":
            specificity = 1
        elif kind == wanted_type and subtype == wanted_subtype:
            specificity = 2
        else:
            continue
        if not _parameters_match(parameters):
            continue
        if specificity > found_specificity or (
            specificity == found_specificity and quality > found_quality
        ):
            found_quality, found_specificity = quality, specificity
    return found_quality, found_specificity


def _parameters_match(parameters: list[str]) -> bool:
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in UTF_8:
            return False
    return True
