"""The dashboard at /dashboard: a page of the service's own files (it works offline).

The page holds no data: it reads and changes everything through /graphql, with
the token its user gives it, so it is served in production too, and with auth
on its data needs that token. The chosen pool's live feed is the poolEvents
subscription over SSE (a POST with `Accept: text/event-stream`); the other pools'
rows follow their pools' poolEvents on one WebSocket (graphql-transport-ws).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, redirect, send_file
from werkzeug.wrappers.response import Response as WerkzeugResponse

STATIC = Path(__file__).with_name("static")
PAGE = STATIC / "dashboard.html"

# Everything from the service itself: no inline script or style, no other host,
# no framing (the admin buttons must not be clickable through another site).
# connect-src 'self' covers the ws:// (wss://) of the page's own host and port too.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

bp = Blueprint(
    "dashboard",
    __name__,
    static_folder="static",
    static_url_path="/static",
    url_prefix="/dashboard",
)
front = Blueprint("dashboard_root", __name__)


# The view functions' names are the `operation` of the access line and the metrics.
@bp.get("")
def dashboard() -> Response:
    response = send_file(PAGE, mimetype="text/html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def dashboard_with_slash() -> WerkzeugResponse:
    # The page's own links are relative to /dashboard: one URL for it.
    return redirect("../dashboard", code=301)


@bp.after_request
def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@front.get("/")
def root() -> WerkzeugResponse:
    # Relative, so that it holds behind a proxy that serves the service under a prefix.
    return redirect("dashboard", code=302)


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(front)
