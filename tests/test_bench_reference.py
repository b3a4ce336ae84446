"""The benchmark's reference server: graphql-server as it comes, on objmgr's schema and store."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from flask.testing import FlaskClient
from graphql import parse, validate
from graphql_server.flask.views import GraphQLView
from objmgr_client.operations import ACQUIRE

from app.api.schema import schema
from app.api.view import ObjmgrGraphQLView

BENCH = Path(__file__).resolve().parent.parent / "bench"
BENCH_MODULES = sorted(path.stem for path in BENCH.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("name", BENCH_MODULES)
def test_every_bench_module_imports_as_a_module_of_the_bench_package(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")

    assert module.__doc__, f"bench/{name}.py says what it measures"


def test_the_documents_wrk_sends_are_valid_against_the_live_schema() -> None:
    from bench import servers, wrk

    for document in (wrk.ACQUIRE, wrk.VERSION, wrk.IN_USE, servers.ACQUIRE_BATCH):
        assert validate(schema.graphql_schema, parse(document)) == [], document


def test_every_objmgr_request_of_the_bench_is_measured_and_its_leases_counted() -> None:
    from bench import servers

    keys = [scenario.key for scenario in servers.OBJMGR_SCENARIOS]
    assert keys == ["healthz", "acquire", "version", "batch"]
    assert servers.LEASES_PER_ANSWER == {"acquire": 1, "batch": servers.BATCH_COUNT}
    assert f"count: {servers.BATCH_COUNT}" in servers.ACQUIRE_BATCH
    # the expected body names each of the set's leases
    assert servers.BATCH.expect.count('"obj"') == servers.BATCH_COUNT


def test_the_document_cache_micro_benchmark_runs_in_process(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bench import acquire_vs_healthz

    acquire_vs_healthz.cache_micro(iterations=3)

    table = capsys.readouterr().out
    assert "acquireObject" in table and "{ version }" in table


@pytest.fixture
def stock_graphql() -> ModuleType:
    return importlib.import_module("bench.stock_graphql")


@pytest.fixture
def client(
    stock_graphql: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> FlaskClient:
    monkeypatch.setenv("OBJMGR_STORE", f"sqlite:///{tmp_path / 'objmgr.sqlite3'}")
    monkeypatch.setenv("OBJMGR_ENV", "development")
    app = stock_graphql.create_app()
    return app.test_client()


def test_the_reference_serves_acquire_through_graphql_servers_own_view(
    client: FlaskClient,
) -> None:
    view = client.application.view_functions["graphql.graphql"]
    assert view.view_class is not ObjmgrGraphQLView  # type: ignore[union-attr]
    assert issubclass(view.view_class, GraphQLView)  # type: ignore[union-attr]
    first = client.post("/graphql", json={"query": ACQUIRE}).get_json()
    second = client.post("/graphql", json={"query": ACQUIRE}).get_json()
    assert first["data"]["acquireObject"]["success"] is True
    assert first["data"]["acquireObject"]["lease"]["obj"] == 1
    assert second["data"]["acquireObject"]["lease"]["obj"] == 2
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_the_reference_keeps_no_documents(client: FlaskClient) -> None:
    for _ in range(3):
        assert client.post("/graphql", json={"query": "{ version }"}).status_code == 200
    documents = client.application.extensions["objmgr.documents"]
    assert documents.cache_info().currsize == 0


def test_the_reference_refuses_to_serve_with_auth_on(
    stock_graphql: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBJMGR_STORE", f"sqlite:///{tmp_path / 'objmgr.sqlite3'}")
    monkeypatch.setenv("OBJMGR_TOKENS", "alice:a-long-enough-secret-for-alice")
    with pytest.raises(RuntimeError, match="OBJMGR_AUTH=disabled"):
        stock_graphql.create_app()
