"""The limits on every request: shape, root fields, cost, one deadline, cache bytes."""

from __future__ import annotations

import gc
import json
import re
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from graphql import OperationDefinitionNode, get_introspection_query
from objmgr_client import operations

from app.api.documents import DocumentCache, Prepared
from app.api.schema import schema
from app.api.shape import MAX_FIELDS, MAX_FRAGMENTS, MAX_TOKENS

from .api_support import Api, code_of, error_of, granted, memory_app, refused

ROOT = Path(__file__).resolve().parent.parent
SEED_DOCUMENTS = [
    "query {\n  getObject\n}",
    "{\n  getObject\n}",
    "mutation {\n    freeObject(obj: 1) {\n        success\n    }\n}",
    "mutation {\n  freeObject (obj:1) {\n    success\n  }\n}",
]


def known_documents() -> list[str]:
    """Every document the contract, the README, the Postman collection and the tests send."""
    documents = list(SEED_DOCUMENTS)
    documents += [
        value
        for name, value in vars(operations).items()
        # The field lists (`POOL_FIELDS`, which may hold a selection) are not documents.
        if name.isupper() and not name.endswith("_FIELDS") and "{" in value
    ]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for body in re.findall(r"gql '(\{\"query\".*?\})'", readme):
        documents.append(json.loads(body)["query"])
    collection = json.loads((ROOT / "deploy/objmgr.postman_collection.json").read_text())
    stack = list(collection["item"])
    while stack:
        item = stack.pop()
        stack += item.get("item", [])
        graphql = item.get("request", {}).get("body", {}).get("graphql")
        if graphql:
            documents.append(graphql["query"])
    documents.append(get_introspection_query(descriptions=True, input_value_deprecation=True))
    return documents


def too_complex(response: Any) -> str:
    assert response.status_code == 400, response.get_data(as_text=True)
    assert code_of(response) == "QUERY_TOO_COMPLEX"
    assert response.get_json()["data"] is None
    return error_of(response)["message"]


def in_use(api: Api) -> int:
    return api.data("{ pool { inUse } }")["pool"]["inUse"]


# --- what every known document passes --------------------------------------------------


@pytest.mark.parametrize("document", known_documents())
def test_every_known_document_passes_every_limit_byte_for_byte(document: str) -> None:
    cache = DocumentCache(schema.graphql_schema, introspection=True)

    prepared = cache.get(document)

    assert isinstance(prepared, Prepared), prepared
    for operation_name, cost in prepared.costs.items():
        assert cost.root_fields <= 20, operation_name
        assert cost.cost(None) <= 50_000, operation_name


def test_known_documents_include_the_seed_readme_and_postman_ones() -> None:
    documents = known_documents()
    assert set(SEED_DOCUMENTS) <= set(documents)
    assert len(documents) > 30


# --- the amplified document and the shape bounds ---------------------------------------


def amplified() -> str:
    leases = " ".join(f"l{i}: leases {{ obj }}" for i in range(140))
    pools = " ".join(f"p{i}: pool {{ ...L }}" for i in range(140))
    return f"{{ {pools} }} fragment L on Pool {{ {leases} }}"


def test_the_amplified_document_is_refused_before_it_is_parsed(api: Api) -> None:
    documents = api.app.extensions["objmgr.documents"]

    too_complex(api.post(amplified()))
    # Refused from counts alone: nothing was parsed to be kept.
    assert documents.cache_info().currsize == 0


def test_a_hundred_aliased_acquires_take_nothing(api: Api) -> None:
    acquires = " ".join(f"a{i}: acquireObject {{ success }}" for i in range(100))

    too_complex(api.post(f"mutation {{ {acquires} }}"))

    assert in_use(api) == 0


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ("{ pool { " + " ".join(f"a{i}: name" for i in range(MAX_FIELDS)) + " } }", "fields"),
        (
            "{ pool { " + " ".join("...F" for _ in range(MAX_FRAGMENTS + 1)) + " } }"
            " fragment F on Pool { name }",
            "fragment",
        ),
        ("{ __schema { types { " + "ofType { " * 15 + "name" + " }" * 18, "nested"),
        ("{ version " + "version " * 5 + "}", "'version'"),
        (
            "{ pool { ...A ...B } } fragment A on Pool { name name name }"
            " fragment B on Pool { name name }",
            "'name'",
        ),
        ("{ pool { " + " ".join("... on Pool { size }" for _ in range(5)) + " } }", "'size'"),
        ("{ version }" + "\n# pad" * MAX_TOKENS, "tokens"),
    ],
    ids=["fields", "fragments", "depth", "same-name", "same-name-merged", "inline", "tokens"],
)
def test_a_document_outside_the_shape_bounds_is_refused(
    api: Api, document: str, named: str
) -> None:
    assert named in too_complex(api.post(document))


def test_the_largest_documents_within_the_bounds_run(api: Api) -> None:
    fields = " ".join(f"a{i}: name" for i in range(MAX_FIELDS - 2))

    assert len(api.data(f"{{ pool {{ {fields} }} }}")["pool"]) == MAX_FIELDS - 2


def test_many_documents_of_many_tokens_leave_the_cache_empty() -> None:
    cache = DocumentCache(schema.graphql_schema, introspection=True)
    pad = " ".join(f"v{i}: version" for i in range(700))

    for i in range(2200):
        assert isinstance(cache.get(f"query Q{i} {{ {pad} }}"), tuple)

    assert cache.cache_info().currsize == 0


# --- root fields -------------------------------------------------------------------------


def aliases(count: int, field: str = "version") -> str:
    return " ".join(f"a{i}: {field}" for i in range(count))


@pytest.mark.parametrize(
    "template",
    [
        "{{ {fields} }}",
        "{{ ...R }} fragment R on Query {{ {fields} }}",
        "{{ ... on Query {{ {fields} }} }}",
        "{{ v: version ...R }} fragment R on Query {{ ... on Query {{ {fields} }} }}",
    ],
    ids=["aliases", "fragment", "inline-fragment", "nested"],
)
def test_twenty_root_fields_run_and_the_twenty_first_is_refused(api: Api, template: str) -> None:
    extra = 1 if "v: version" in template else 0

    answer = api.data(template.format(fields=aliases(20 - extra)))
    message = too_complex(api.post(template.format(fields=aliases(21 - extra))))

    assert len(answer) == 20
    assert "21 root fields" in message


def test_twenty_one_root_mutations_take_nothing(api: Api) -> None:
    too_complex(api.post(f"mutation {{ {aliases(21, 'acquireObject { success }')} }}"))

    assert in_use(api) == 0


# --- cost ----------------------------------------------------------------------------------


def test_a_list_field_costs_its_first_times_its_selection(api: Api) -> None:
    message = too_complex(api.post("{ pools(first: 1000) { leases(first: 1000) { obj } } }"))

    assert "1,001,001" in message
    assert api.data("{ pools(first: 10) { leases(first: 1000) { obj } } }")["pools"]


def test_a_list_field_without_first_costs_its_default(api: Api) -> None:
    # 1 + 100 x (1 + 100 x 5) = 50,101, over the limit of 50,000.
    too_complex(api.post("{ pools { leases { pool obj owner label token } } }"))

    assert api.data("{ pools { leases { pool obj owner label } } }")["pools"]


def test_first_from_variables_is_costed_for_each_request(api: Api) -> None:
    query = "query($n: Int) { pools(first: $n) { leases(first: $n) { obj } } }"

    assert api.data(query, {"n": 10})["pools"]
    too_complex(api.post(query, {"n": 1000}))
    assert api.data(query, {"n": 100})["pools"]


def test_first_from_a_variable_default_is_costed(api: Api) -> None:
    query = "query($n: Int = 1000) { pools(first: $n) { leases(first: $n) { obj } } }"

    too_complex(api.post(query))
    assert api.data(query, {"n": 5})["pools"]


def test_fragments_count_where_they_are_spread(api: Api) -> None:
    fragment = "fragment P on Pool { leases(first: 250) { obj } }"
    inline = "... on Pool { a: leases(first: 250) { obj } }"

    # 1 + 100 x (1 + 250)
    assert api.data(f"{{ pools {{ ...P }} }} {fragment}")["pools"] is not None
    # 1 + 100 x (2 x (1 + 250))
    assert "50,201" in too_complex(api.post(f"{{ pools {{ ...P {inline} }} }} {fragment}"))
    # Spread in two places: counted in each, 2 x (1 + 100 x 251).
    assert "50,202" in too_complex(
        api.post(f"{{ a: pools {{ ...P }} b: pools {{ ...P }} }} {fragment}")
    )


def test_the_cost_limit_is_the_setting() -> None:
    api = Api(memory_app(max_cost=100))

    # 1 + 100 x 1
    assert "101" in too_complex(api.post("{ pools { name } }"))
    assert api.data("{ pools(first: 99) { name } }")["pools"]


def test_nothing_of_an_operation_over_the_cost_runs(api: Api) -> None:
    too_complex(api.post("{ getObject pools(first: 1000) { leases(first: 1000) { obj } } }"))

    assert in_use(api) == 0


# --- one deadline per request ------------------------------------------------------------


def test_all_waits_of_one_request_share_one_deadline_of_max_wait() -> None:
    max_wait = 1.0
    api = Api(memory_app(pool_size=1, max_wait=max_wait))
    granted(api.acquire())
    waits = " ".join(f"a{i}: acquireObject(wait: 30) {{ success code }}" for i in range(5))

    started = time.monotonic()
    answers = api.data(f"mutation {{ {waits} }}")
    elapsed = time.monotonic() - started

    assert all(not answer["success"] for answer in answers.values()), answers
    assert {answer["code"] for answer in answers.values()} <= {"ACQUIRE_TIMEOUT", "POOL_EXHAUSTED"}
    # Five waits of their own would take five times max_wait.
    assert elapsed < 3.5 * max_wait


def test_the_first_wait_of_a_request_still_waits_max_wait() -> None:
    api = Api(memory_app(pool_size=1, max_wait=0.2))
    granted(api.acquire())

    message = refused(api.acquire(wait=30), "ACQUIRE_TIMEOUT")

    assert "0.2 seconds" in message


# --- the document cache in bytes ------------------------------------------------------


def paged_document(index: int, pages: int) -> str:
    leases = " ".join(f"l{i}: leases(first: 1, after: {i}) {{ obj }}" for i in range(pages))
    return f'query Q{index} {{ pool(name: "p{index}") {{ {leases} }} }}'


def held_bytes(action: Any) -> tuple[Any, int]:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = action()
        gc.collect()
        return result, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(
    "document",
    ["{ version }", operations.ACQUIRE, operations.LEASES, paged_document(0, 60)],
    ids=["version", "acquire", "leases", "large"],
)
def test_the_size_estimate_of_an_entry_is_at_least_what_it_holds(document: str) -> None:
    warm = DocumentCache(schema.graphql_schema, introspection=True)
    compiled(warm, document + " ")  # graphql-core's own first-use caches, outside the count
    cache = DocumentCache(schema.graphql_schema, introspection=True)

    _, measured = held_bytes(lambda: compiled(cache, document))

    assert cache.cache_info().bytes >= measured


def compiled(cache: DocumentCache, document: str) -> Prepared:
    """The cache's entry for `document`, with the plans of all its operations, as
    an entry holds them once each operation ran."""
    prepared = cache.get(document)
    assert isinstance(prepared, Prepared)
    for definition in prepared.document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            prepared.plan(schema.graphql_schema, definition)
    return prepared


def test_distinct_large_documents_keep_the_cache_within_its_bytes() -> None:
    bound = 3 * 1024 * 1024
    documents = [paged_document(index, 60) for index in range(30)]
    DocumentCache(schema.graphql_schema, introspection=True).get(paged_document(99, 60))

    def fill() -> DocumentCache:
        cache = DocumentCache(schema.graphql_schema, introspection=True, max_bytes=bound)
        for document in documents:
            assert isinstance(cache.get(document), Prepared)
        return cache

    cache, measured = held_bytes(fill)

    info = cache.cache_info()
    assert 0 < info.currsize < len(documents)
    assert info.bytes <= bound
    assert measured <= bound


def test_the_least_recently_used_document_goes_first() -> None:
    first, second, third = (paged_document(index, 10) for index in range(3))
    probe = DocumentCache(schema.graphql_schema, introspection=True)
    probe.get(first)
    size = probe.cache_info().bytes
    cache = DocumentCache(schema.graphql_schema, introspection=True, max_bytes=2 * size + size // 2)

    cache.get(first)
    cache.get(second)
    cache.get(first)  # second is now the least recently used
    cache.get(third)
    hits = cache.cache_info().hits
    cache.get(first)

    assert cache.cache_info().hits == hits + 1
    assert cache.cache_info().currsize == 2
