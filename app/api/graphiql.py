"""The GraphiQL page, served from the service's own files (it works with no internet)."""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Response

GRAPHIQL_PAGE = Path(__file__).with_name("templates") / "graphiql.html"


def graphiql_response() -> Response:
    # The page holds no data; the operations it sends are authenticated.
    return Response(_graphiql_page(), content_type="text/html; charset=utf-8")


@functools.lru_cache(maxsize=1)
def _graphiql_page() -> str:
    return GRAPHIQL_PAGE.read_text(encoding="utf-8")
