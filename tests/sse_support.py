"""Reading GraphQL-over-SSE streams that Flask's test client hands out unbuffered."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from .api_support import check_response

EVENT_STREAM = "text/event-stream"
POOL_EVENTS = (
    'subscription($pool: String! = "default", $after: BigInt) '
    "{ poolEvents(pool: $pool, after: $after) { seq kind obj size } }"
)


def open_stream(
    app: Flask,
    query: str = POOL_EVENTS,
    variables: dict[str, Any] | None = None,
    secret: str | None = None,
    method: str = "POST",
    **headers: str,
) -> TestResponse:
    """The answer to a subscription sent with `Accept: text/event-stream`: a
    stream when it opened (read it with `SseReader`), else a refusal, checked
    as every answer is (503: a worker shutting down, or its store down)."""
    sent = {"Accept": EVENT_STREAM, **headers}
    if secret is not None:
        sent["Authorization"] = f"Bearer {secret}"
    body: dict[str, Any] = {"query": query}
    if variables is not None:
        body["variables"] = variables
    client = app.test_client()
    if method == "GET":
        params = {"query": query}
        if variables is not None:
            params["variables"] = json.dumps(variables)
        response = client.get("/graphql", query_string=params, headers=sent, buffered=False)
    else:
        response = client.post("/graphql", json=body, headers=sent, buffered=False)
    if response.status_code != 200 or response.mimetype != EVENT_STREAM:
        return check_response(response, unavailable_ok=True)
    return response


class SseReader:
    """The messages of one stream, as the SSE format has them: comments skipped."""

    def __init__(self, response: TestResponse) -> None:
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == EVENT_STREAM
        self.response = response
        self._chunks: Iterator[bytes] = iter(response.response)
        self._pending = b""
        self.comments = 0

    def message(self) -> tuple[str, Any] | None:
        """The next (event, data) with its data parsed; None once the stream ended."""
        while b"\n\n" not in self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                assert not self._pending.strip(), self._pending
                return None
            self._pending += chunk
        block, self._pending = self._pending.split(b"\n\n", 1)
        fields: dict[str, str] = {}
        for line in block.decode().split("\n"):
            if line.startswith(":"):
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if not fields:
            self.comments += 1
            return self.message()
        data = fields.get("data", "")
        return fields["event"], json.loads(data) if data else None

    def result(self) -> dict[str, Any]:
        """The next `next` message's result."""
        found = self.message()
        assert found is not None and found[0] == "next", found
        return found[1]

    def events(self, count: int) -> list[dict[str, Any]]:
        """The next `count` events, each a result of data only."""
        events = []
        for _ in range(count):
            result = self.result()
            assert "errors" not in result, result
            events.append(result["data"]["poolEvents"])
        return events

    def ending(self) -> str:
        """The code the stream ended with: its last `next`'s error, then `complete`."""
        result = self.result()
        assert "data" not in result, result
        [error] = result["errors"]
        assert error["message"].strip()
        found = self.message()
        assert found is not None and found[0] == "complete", found
        assert self.message() is None
        return str(error["extensions"]["code"])

    def close(self) -> None:
        self.response.close()
