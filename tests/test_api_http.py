"""HTTP methods and environments: state changes only over POST; GraphiQL and
introspection in development only.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app.version import __version__

from .api_support import (
    INTROSPECTION,
    Api,
    code_of,
    error_of,
    granted,
    in_use,
    production_api,
    snapshot,
)

# --- methods: state changes only over POST ------------------------------------------


def test_a_browser_get_with_get_object_gets_the_playground_not_an_object(http: Api) -> None:
    response = http.request(
        "GET", query_string={"query": "{ getObject }"}, headers={"Accept": "text/html"}
    )

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert in_use(http) == 0


@pytest.mark.parametrize(
    "query",
    [
        "mutation { acquireObject { success } }",
        "mutation { freeObject(obj: 1) { success } }",
        'mutation { createPool(name: "viaget", size: 1) { success } }',
        'mutation { deletePool(name: "default", force: true) { success } }',
    ],
)
def test_mutations_over_get_are_405_and_change_nothing(http: Api, query: str) -> None:
    granted(http.acquire())
    before = snapshot(http)

    response = http.get(query)

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert snapshot(http) == before


def test_get_picks_the_operation_by_name_and_refuses_only_the_mutation(http: Api) -> None:
    document = "query Q { version } mutation M { acquireObject { success } }"

    assert http.get(document, operationName="M").status_code == 405
    assert in_use(http) == 0
    response = http.get(document, operationName="Q")
    assert response.status_code == 200
    assert response.get_json() == {"data": {"version": __version__}}


@pytest.mark.parametrize(
    ("query", "params", "data"),
    [
        ("{ version }", {}, {"version": __version__}),
        ("{ pool { name inUse } }", {}, {"pool": {"name": "default", "inUse": 0}}),
        (
            "query($n: String!) { pool(name: $n) { size } }",
            {"variables": '{"n": "default"}'},
            {"pool": {"size": 3}},
        ),
        ("{ lease(obj: 2) { obj } }", {}, {"lease": None}),
    ],
    ids=["version", "pool", "variables", "lease"],
)
def test_ordinary_queries_over_get_work(
    http: Api, query: str, params: dict[str, str], data: dict[str, Any]
) -> None:
    response = http.get(query, **params)

    assert response.status_code == 200
    assert response.get_json() == {"data": data}


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_methods_on_graphql_are_405_with_a_json_body(http: Api, method: str) -> None:
    response = http.request(
        method, data=json.dumps({"query": "{ getObject }"}), content_type="application/json"
    )

    assert response.status_code == 405
    assert code_of(response) == "METHOD_NOT_ALLOWED"
    assert in_use(http) == 0


# --- GraphiQL and introspection by environment ----------------------------------------


def test_development_serves_graphiql_to_a_browser_with_local_assets_only(http: Api) -> None:
    response = http.request("GET", headers={"Accept": "text/html,application/xhtml+xml"})

    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "graphiql" in page.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    scripts_and_styles = [asset for asset in assets if not asset.startswith("data:")]
    assert scripts_and_styles
    assert all(asset.startswith("/graphql/static/graphiql/") for asset in scripts_and_styles)
    assert not re.search(r"https?://", page)
    assert in_use(http) == 0


def test_every_graphiql_asset_is_served_with_a_js_or_css_type(http: Api) -> None:
    page = http.request("GET", headers={"Accept": "text/html"}).get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(/graphql/static/[^"]+)"', page)

    types: dict[str, set[str]] = {}
    for asset in assets:
        response = http.request("GET", asset)
        assert response.status_code == 200, asset
        assert response.get_data() and response.mimetype is not None, asset
        types.setdefault(asset.rsplit(".", 1)[1], set()).add(response.mimetype)

    # Which of the two JavaScript types depends on the host's mime.types.
    assert types["css"] == {"text/css"}
    assert types["js"] <= {"text/javascript", "application/javascript"}
    assert set(types) == {"css", "js"}


def test_development_answers_introspection(http: Api) -> None:
    assert http.data(INTROSPECTION) == {"__schema": {"queryType": {"name": "Query"}}}


def test_production_does_not_serve_graphiql_to_a_browser() -> None:
    api = production_api()

    response = api.request("GET", headers={"Accept": "text/html"})

    # A browser that takes only HTML takes none of the types /graphql answers in.
    assert response.status_code == 406
    assert code_of(response) == "NOT_ACCEPTABLE"
    assert "graphiql" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(
    "query",
    [
        INTROSPECTION,
        '{ __type(name: "Lease") { fields { name } } }',
        "{ version __schema { types { name } } }",
    ],
    ids=["schema", "type", "beside-a-field"],
)
def test_production_refuses_introspection_as_a_validation_error(query: str) -> None:
    api = production_api()

    response = api.post(query)

    assert response.status_code == 400
    assert code_of(response) == "GRAPHQL_VALIDATION_FAILED"
    assert "introspection" in error_of(response)["message"]


def test_production_answers_ordinary_operations() -> None:
    api = production_api()

    assert api.data("{ version __typename }") == {"version": __version__, "__typename": "Query"}
    assert api.get_object() == 1
