"""One GraphQL document POSTed to objmgr, and what its answer means."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

from .errors import BAD_RESPONSE, UNREACHABLE, ObjmgrError
from .version import __version__


def check_url(url: str) -> str:
    """`url` without its trailing slashes; ValueError unless it is http(s)://HOST..."""
    url = url.rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    return url


class Transport:
    """POSTs to `<url>/graphql` with the standard library: a new connection per request."""

    def __init__(self, url: str, token: str | None) -> None:
        self.url = check_url(url)
        self.endpoint = f"{self.url}/graphql"
        self._headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"objmgr-client/{__version__}",
        }
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def headers(self, accept: str) -> dict[str, str]:
        """The headers of a POST to the endpoint that asks for `accept`."""
        return {**self._headers, "Accept": accept}

    def post(
        self, document: str, variables: Mapping[str, Any] | None, timeout: float
    ) -> dict[str, Any]:
        """The `data` of one operation; its errors, or no answer, raise `ObjmgrError`."""
        body = json.dumps({"query": document, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(
            self.endpoint, data=body, headers=self._headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            raise ObjmgrError(UNREACHABLE, f"{self.url}: {reason}") from error
        return decode_answer(status, raw)


def decode_answer(status: int, raw: bytes) -> dict[str, Any]:
    """The `data` of an answer, or the `ObjmgrError` its errors or its status say."""
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        snippet = raw[:200].decode("utf-8", "replace").strip()
        raise ObjmgrError(BAD_RESPONSE, f"HTTP {status}, not objmgr's JSON: {snippet!r}", status)
    errors = body.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and isinstance(errors[0], dict) else {}
        code = (first.get("extensions") or {}).get("code") or (
            BAD_RESPONSE if status >= 500 else f"HTTP_{status}"
        )
        raise ObjmgrError(str(code), str(first.get("message", "")), status)
    data = body.get("data")
    if status != 200 or not isinstance(data, dict):
        raise ObjmgrError(BAD_RESPONSE, f"HTTP {status} without data", status)
    return data


def payload(data: Mapping[str, Any], field: str) -> dict[str, Any]:
    """A mutation's payload, or the `ObjmgrError` its code says."""
    result = data[field]
    if not isinstance(result, dict):
        raise ObjmgrError(BAD_RESPONSE, f"{field} answered {result!r}, not a payload")
    if not result.get("success"):
        code = str(result.get("code") or BAD_RESPONSE)
        raise ObjmgrError(code, str(result.get("message") or code))
    return result
