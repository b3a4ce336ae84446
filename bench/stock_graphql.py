"""The reference the speed target is set against: graphql-server as it comes.

objmgr's own app (its schema, its store, /healthz), with `/graphql` served by graphql-server
3.0.0's Flask `GraphQLView` unmodified: a new view per request, every document parsed and
validated every time. Only `get_context` is filled in, because objmgr's resolvers read the
service and the caller from it. The benchmark serves it as its `stock` store:

    gunicorn -c deploy/gunicorn.conf.py 'bench.stock_graphql:create_app()'   # from the root
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Request, Response
from graphql_server.flask.views import GraphQLView

from app import create_app as create_objmgr_app
from app.api.context import RequestContext
from app.api.schema import schema
from app.pool.lease import Caller
from app.service import LeaseService

GRAPHQL_ENDPOINT = "graphql.graphql"  # the blueprint's only view


class StockView(GraphQLView):
    def __init__(self, service: LeaseService, **options: Any) -> None:
        super().__init__(**options)
        self.service = service

    def get_context(self, request: Request, response: Response) -> RequestContext:  # type: ignore[override]
        return RequestContext(
            request=request,
            caller=Caller.auth_off(),
            service=self.service,
            client_connected=lambda: True,
        )


def create_app() -> Flask:
    app = create_objmgr_app()
    if app.extensions["objmgr.settings"].auth_on:
        raise RuntimeError("the stock reference serves without auth: set OBJMGR_AUTH=disabled")
    app.view_functions[GRAPHQL_ENDPOINT] = StockView.as_view(
        "stock", schema=schema.graphql_schema, service=app.extensions["objmgr"]
    )
    return app
