"""The HTTP face of objmgr: `/graphql`, its playground assets, the probes."""

from __future__ import annotations

from flask import Blueprint, Flask

from ..config import Settings
from ..service import LeaseService
from ..watching import WatchHub, WatchLimits
from .auth import Authenticator
from .documents import DocumentCache
from .errors import register_error_handlers
from .health import bp as health
from .schema import schema
from .subscriptions import SubscriptionGate
from .view import ObjmgrGraphQLView
from .websocket import register as register_websocket

#: Where the app keeps its worker's hub and gate (the WebSocket transport reads the gate).
WATCH_HUB = "objmgr.watch"
SUBSCRIPTIONS = "objmgr.subscriptions"


def register(app: Flask, settings: Settings, service: LeaseService) -> None:
    graphql = Blueprint(
        "graphql",
        __name__,
        static_folder="static",
        static_url_path="/static",
        url_prefix="/graphql",
    )
    documents = DocumentCache(
        schema.graphql_schema,
        introspection=settings.introspection,
        max_bytes=settings.document_cache_mb * 1024 * 1024,
    )
    app.extensions["objmgr.documents"] = documents
    # Made by the app factory, hence in each worker after the fork: its
    # followers start with the first subscriber.
    hub = WatchHub(
        service.store,
        WatchLimits(
            per_worker=settings.max_subscriptions,
            per_principal=settings.max_subscriptions_per_principal,
        ),
    )
    gate = SubscriptionGate(
        schema.graphql_schema,
        documents,
        hub,
        max_cost=settings.max_cost,
        suggestions=settings.introspection,
    )
    authenticator = Authenticator(settings)
    app.extensions[WATCH_HUB] = hub
    app.extensions[SUBSCRIPTIONS] = gate
    view = ObjmgrGraphQLView.as_view(
        "graphql",
        schema=schema.graphql_schema,
        service=service,
        authenticator=authenticator,
        documents=documents,
        gate=gate,
        graphiql=settings.graphiql,
        max_cost=settings.max_cost,
        suggestions=settings.introspection,
        plans=True,
    )
    graphql.add_url_rule("", view_func=view, methods=["GET", "POST"])
    app.register_blueprint(graphql)
    # The WebSocket's rule at /graphql takes only upgrades; the view keeps the rest.
    register_websocket(app, gate, authenticator)
    app.register_blueprint(health)
    register_error_handlers(app)
