"""The probes `/healthz`, `/readyz` and `/version`, a store that cannot open, and
URLs that are not the service's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import Settings, create_app
from app.version import __version__

from .api_support import (
    Api,
    code_of,
    refused,
)

# --- probes and other URLs --------------------------------------------------------------


def test_healthz_is_200_ok(api: Api) -> None:
    response = api.request("GET", "/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_is_200_ok_when_the_store_answers(api: Api) -> None:
    response = api.request("GET", "/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_version_endpoint_answers_the_same_version_as_graphql(api: Api) -> None:
    response = api.request("GET", "/version")

    assert response.status_code == 200
    assert response.get_json() == {"version": __version__}
    assert api.data("{ version }")["version"] == __version__


@pytest.fixture
def unreachable_store(tmp_path: Path) -> Api:
    """A SQLite store whose directory is a regular file, so it can never open."""
    (tmp_path / "afile").write_text("not a directory")
    return Api(create_app(Settings(store=f"sqlite:///{tmp_path}/afile/x.sqlite3", workers=1)))


def test_with_an_unreachable_store_the_app_starts_and_healthz_is_200(
    unreachable_store: Api,
) -> None:
    response = unreachable_store.request("GET", "/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert unreachable_store.request("GET", "/version").status_code == 200


def test_with_an_unreachable_store_readyz_is_503_unavailable(unreachable_store: Api) -> None:
    response = unreachable_store.request("GET", "/readyz", unavailable_ok=True)

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert isinstance(body["reason"], str) and body["reason"]


def test_with_an_unreachable_store_mutations_say_store_unavailable(
    unreachable_store: Api,
) -> None:
    refused(unreachable_store.acquire(), "STORE_UNAVAILABLE")
    refused(unreachable_store.free(1), "STORE_UNAVAILABLE")
    refused(unreachable_store.renew(1, 1), "STORE_UNAVAILABLE")
    refused(unreachable_store.create_pool("p", 1), "STORE_UNAVAILABLE")


@pytest.mark.parametrize(
    ("query", "data"),
    [
        ("{ getObject }", {"getObject": None}),
        ("{ pool { name } }", {"pool": None}),
        ("{ lease(obj: 1) { obj } }", {"lease": None}),
        # pools is non-null, so its failure nulls the whole answer.
        ("{ pools { name } }", None),
    ],
)
def test_with_an_unreachable_store_queries_say_store_unavailable(
    unreachable_store: Api, query: str, data: dict[str, Any] | None
) -> None:
    answered, error = unreachable_store.field_error(query)

    assert answered == data
    assert error["extensions"]["code"] == "STORE_UNAVAILABLE"


@pytest.mark.parametrize(
    "path", ["/nope", "/graphql/", "/graphql/static/graphiql/nope.js", "/healthz/x"]
)
def test_an_unknown_url_is_404_with_a_json_error(http: Api, path: str) -> None:
    response = http.request("GET", path)

    assert response.status_code == 404
    assert code_of(response) == "NOT_FOUND"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/version"])
def test_probes_refuse_post_with_405_json(http: Api, path: str) -> None:
    response = http.request("POST", path)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
