"""The app's Flask class: Flask, naming each request's operation after its route."""

from __future__ import annotations

from flask import Flask, request
from flask.typing import ResponseReturnValue

from .request_record import current_request

#: The operation of a request that matched no route (a 404, a 405).
UNROUTED = "other"


def endpoint_operation(endpoint: str | None) -> str:
    """`health.healthz` -> `healthz`: the name of a route, one of the app's few."""
    if endpoint is None:
        return UNROUTED
    return endpoint.rpartition(".")[2]


class ObjmgrFlask(Flask):
    def dispatch_request(self) -> ResponseReturnValue:
        # Here rather than in a before_request hook, which Flask would look up
        # and check for a coroutine on every request. The GraphQL view names
        # its operation again, once it knows it.
        record = current_request()
        if record is not None and record.operation is None:
            record.operation = endpoint_operation(request.endpoint)
        return super().dispatch_request()
