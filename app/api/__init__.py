"""The HTTP face of objmgr: `/graphql`, its playground assets, the probes."""

from __future__ import annotations

from flask import Blueprint, Flask

from ..config import Settings
from ..service import LeaseService
from .auth import Authenticator
from .documents import DocumentCache
from .errors import register_error_handlers
from .health import bp as health
from .schema import schema
from .view import ObjmgrGraphQLView


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
    view = ObjmgrGraphQLView.as_view(
        "graphql",
        schema=schema.graphql_schema,
        service=service,
        authenticator=Authenticator(settings),
        documents=documents,
        graphiql=settings.graphiql,
        max_cost=settings.max_cost,
        suggestions=settings.introspection,
    )
    graphql.add_url_rule("", view_func=view, methods=["GET", "POST"])
    app.register_blueprint(graphql)
    app.register_blueprint(health)
    register_error_handlers(app)
