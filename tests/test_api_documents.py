"""The document cache: a document parsed and validated once, run with new variables
every time, and never shared between environments.
"""

from __future__ import annotations

import pytest

from .api_support import (
    INTROSPECTION,
    Api,
    granted,
    memory_app,
    production_api,
)

# --- the document cache -------------------------------------------------------------


def test_a_cached_document_honours_new_variables_every_time(api: Api) -> None:
    granted(api.create_pool("other", 7))
    query = "query($n: String!) { pool(name: $n) { name size } }"

    answers = [api.data(query, {"n": name}) for name in ("default", "other", "default")]

    assert answers == [
        {"pool": {"name": "default", "size": 3}},
        {"pool": {"name": "other", "size": 7}},
        {"pool": {"name": "default", "size": 3}},
    ]


def test_a_cached_mutation_runs_again_with_its_new_variables(api: Api) -> None:
    granted(api.create_pool("other", 7))

    first = granted(api.acquire(pool="other", label="one"))["lease"]
    second = granted(api.acquire(label="two"))["lease"]
    third = granted(api.acquire(pool="other", label="three"))["lease"]

    assert [(lease["pool"], lease["obj"], lease["label"]) for lease in (first, second, third)] == [
        ("other", 1, "one"),
        ("default", 1, "two"),
        ("other", 2, "three"),
    ]


def test_a_document_is_parsed_and_validated_once_however_often_it_comes(api: Api) -> None:
    documents = api.app.extensions["objmgr.documents"]
    before = documents.cache_info()

    for _ in range(3):
        granted(api.acquire(label="same text"))

    after = documents.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 2)


@pytest.mark.parametrize(
    "query", ["{ nope }", "{ version", "query A { version } query B { version }"]
)
def test_an_invalid_document_sent_twice_fails_the_same_way_both_times(
    http: Api, query: str
) -> None:
    first, second = http.post(query), http.post(query)

    assert first.status_code == second.status_code == 400
    assert first.get_json() == second.get_json()


def test_the_document_cache_is_not_shared_between_environments() -> None:
    development, production = Api(memory_app()), production_api()

    assert development.post(INTROSPECTION).status_code == 200
    assert production.post(INTROSPECTION).status_code == 400
    assert development.post(INTROSPECTION).status_code == 200
