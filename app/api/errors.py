"""JSON error bodies, never a traceback."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException


def error_response(
    status: int, message: str, code: str, headers: Mapping[str, str] | None = None
) -> Response:
    response = jsonify({"errors": [{"message": message, "extensions": {"code": code}}]})
    response.status_code = status
    response.headers.update(headers or {})
    return response


# The same code as /graphql gives for its own 413 (a query over 64 KiB).
CODES = {413: "PAYLOAD_TOO_LARGE"}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        code = CODES.get(error.code or 0) or (error.name or "error").upper().replace(" ", "_")
        response = error_response(error.code or 500, error.description or error.name, code)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        app.logger.exception("unhandled error")
        return error_response(
            500, "internal error; the server log has the details", "INTERNAL_SERVER_ERROR"
        )
