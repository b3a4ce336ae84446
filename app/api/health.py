"""Probes for process managers and load balancers; no auth."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from ..pool.errors import StoreUnavailable
from ..version import __version__

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    try:
        # A write that changes no lease: a full disk or a vanished file must show.
        current_app.extensions["objmgr"].store.check_ready()
    except StoreUnavailable as error:
        return jsonify(status="unavailable", reason=error.message), 503
    return jsonify(status="ok"), 200


@bp.get("/version")
def version() -> Response:
    return jsonify(version=__version__)
