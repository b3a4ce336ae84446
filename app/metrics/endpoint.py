"""`GET /metrics`, guarded by OBJMGR_METRICS_TOKEN when it is set."""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from ..api.errors import error_response
from .collector import PoolCollector

bp = Blueprint("metrics", __name__)

EXTENSION = "objmgr.metrics"


class Scrape:
    """What one app's `/metrics` answers with."""

    def __init__(
        self,
        registry: CollectorRegistry,
        pools: PoolCollector,
        directory: str | None,
        token: bytes | None,
    ) -> None:
        self.registry = registry
        self.pools = pools
        self.directory = directory
        self.token = token

    def text(self) -> bytes:
        if self.directory is None:
            return generate_latest(self.registry)
        # Every worker's files, read afresh: the app's own registry holds only
        # this worker's values.
        registry = CollectorRegistry()
        MultiProcessCollector(registry, self.directory)
        registry.register(self.pools)
        return generate_latest(registry)

    def allows(self, authorization: str | None) -> bool:
        """Whether the request may scrape: always, unless a token is configured.

        Only the metrics secret opens it, never a GraphQL bearer token.
        """
        if self.token is None:
            return True
        scheme, _, secret = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return False
        presented = hashlib.sha256(secret.strip().encode()).digest()
        return hmac.compare_digest(presented, self.token)


@bp.get("/metrics")
def metrics() -> Response:
    scrape: Scrape = current_app.extensions[EXTENSION]
    if not scrape.allows(request.headers.get("Authorization")):
        return error_response(
            401,
            "send Authorization: Bearer <the metrics token>",
            "UNAUTHENTICATED",
            {"WWW-Authenticate": 'Bearer realm="objmgr metrics"'},
        )
    return Response(scrape.text(), status=200, content_type=CONTENT_TYPE_LATEST)
