"""Valid queries and mutations generated from the live schema, run on real stores.

Whatever hypothesis-graphql builds from the schema, the answer is never a 5xx
nor a traceback, every error carries a documented code, and a document over
the limits is refused with QUERY_TOO_COMPLEX and 400.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from app import Settings, create_app
from app.api.schema import schema
from app.pool.errors import ErrorCode

from .api_support import Api

GRAPHQL_SCHEMA = schema.graphql_schema
# The codes the contract and the README document for an error of /graphql.
DOCUMENTED_CODES = {code.value for code in ErrorCode} | {
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "QUERY_TOO_COMPLEX",
    "BAD_REQUEST",
}
SCALARS = {"BigInt": st.integers(min_value=-(2**70), max_value=2**70).map(nodes.Int)}
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", params=["memory", "sqlite"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    store = "memory://"
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path_factory.mktemp('schema-fuzz')}/objmgr.sqlite3"
    # max_wait 0: a generated wait never holds the test.
    app = create_app(Settings(store=store, pool_size=5, workers=1, max_wait=0.0))
    yield Api(app)
    app.extensions["objmgr"].store.close()


def check(api: Api, document: str) -> None:
    response = api.post(document)  # Api checks: below 500, no traceback, no internal error
    body = response.get_json()
    assert isinstance(body, dict), response.get_data(as_text=True)
    errors = body.get("errors") or []
    codes = [(error.get("extensions") or {}).get("code") for error in errors]
    assert set(codes) <= DOCUMENTED_CODES, body
    if response.status_code == 400:
        # The documents are valid: only the limits may refuse them outright.
        assert codes == ["QUERY_TOO_COMPLEX"], body
        assert body["data"] is None
    else:
        assert response.status_code == 200, body
        assert "QUERY_TOO_COMPLEX" not in codes, body


@FUZZ
@given(document=queries(GRAPHQL_SCHEMA, custom_scalars=SCALARS))
def test_generated_queries_answer_documented_codes_only(api: Api, document: str) -> None:
    check(api, document)


@FUZZ
@given(document=mutations(GRAPHQL_SCHEMA, custom_scalars=SCALARS))
def test_generated_mutations_answer_documented_codes_only(api: Api, document: str) -> None:
    check(api, document)
