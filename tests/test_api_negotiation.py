"""The media type of an answer follows `Accept`, q-values included; no suggestions in production."""

from __future__ import annotations

import pytest

from .api_support import Api, code_of, memory_app

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


@pytest.fixture(scope="module")
def http() -> Api:
    return Api(memory_app(pool_size=3))


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("application/*", JSON),
        (JSON, JSON),
        (GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}, {JSON}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, {JSON}", JSON),
        (f"{GRAPHQL_RESPONSE}; q=0.5, {JSON}; q=0.9", JSON),
        (f"{JSON};q=0.5, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE};q=0, */*", JSON),
        (f"{JSON};q=0, */*", GRAPHQL_RESPONSE),
        (f"{JSON}, */*", JSON),
        (f"{GRAPHQL_RESPONSE}; charset=utf-8, {JSON}; charset=utf-8", GRAPHQL_RESPONSE),
        (f"{GRAPHQL_RESPONSE}; charset=latin1, {JSON}", JSON),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", JSON),
    ],
)
def test_the_answer_is_in_the_acceptable_type_of_highest_quality(
    http: Api, accept: str | None, chosen: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}

    response = http.post("{ version }", headers=headers)

    assert response.status_code == 200
    assert response.mimetype == chosen
    assert response.get_json()["data"]["version"]


@pytest.mark.parametrize(
    "accept",
    ["text/html", f"{GRAPHQL_RESPONSE};q=0, {JSON};q=0", "image/png, text/*", "*/*;q=0"],
)
def test_an_accept_that_takes_neither_json_type_is_406_and_runs_nothing(
    http: Api, accept: str
) -> None:
    response = http.post("{ getObject }", headers={"Accept": accept})

    assert response.status_code == 406
    assert code_of(response) == "NOT_ACCEPTABLE"
    assert http.data("{ pool { inUse } }")["pool"]["inUse"] == 0


@pytest.mark.parametrize("accept", [JSON, GRAPHQL_RESPONSE])
@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
        ("{ version", "GRAPHQL_PARSE_FAILED"),
        ("{ " + " ".join(f"a{i}: version" for i in range(21)) + " }", "QUERY_TOO_COMPLEX"),
    ],
    ids=["validation", "parse", "too-complex"],
)
def test_requests_that_cannot_run_are_400_in_the_chosen_type(
    http: Api, accept: str, query: str, code: str
) -> None:
    response = http.post(query, headers={"Accept": accept})

    assert response.status_code == 400
    assert response.mimetype == accept
    assert code_of(response) == code


def test_a_malformed_body_is_answered_in_the_chosen_type(http: Api) -> None:
    response = http.request(
        "POST", data="{", content_type=JSON, headers={"Accept": GRAPHQL_RESPONSE}
    )

    assert response.status_code == 400
    assert response.mimetype == GRAPHQL_RESPONSE
    assert code_of(response) == "BAD_REQUEST"


# --- suggestions ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["{ getObjects }", '{ pool(nme: "default") { name } }', "{ pool { sise } }"],
    ids=["field", "argument", "nested-field"],
)
def test_production_suggests_no_names_that_introspection_would_tell(query: str) -> None:
    development = Api(memory_app())
    production = Api(memory_app(env="production", auth_disabled=True))

    suggested = development.post(query).get_json()["errors"][0]["message"]
    plain = production.post(query).get_json()["errors"][0]["message"]

    assert "Did you mean" in suggested
    assert "Did you mean" not in plain
    assert plain == suggested[: suggested.index(" Did you mean")]
