"""The logs of a real gunicorn: every line JSON (the production default) or key=value,
one access line per request carrying its request id, one line per event with the id
of the request that caused it, no secret anywhere, and a full disk logged one line
per failure instead of a flood of tracebacks."""

from __future__ import annotations

import concurrent.futures
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from app.config import Settings

from ..support.disks import fill, small_tmpfs
from .support import HTTP_TIMEOUT, LiveServer, free_port, wait_until

pytestmark = pytest.mark.live

ALICE, ROOT = "alice-live-secret-0123456789", "root-live-secret-0123456789"
METRICS = "metrics-live-secret-0123456789"
WRONG = ("wrong-secret-0123456789abc", "Zm9vOmJhcg-wrong-basic")
TOKENS = f"alice:{ALICE},root:{ROOT}"
GENERATED = re.compile(r"[0-9a-f]{32}")
LOGFMT_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]+)')
ACQUIRE = "mutation { acquireObject(ttl: 60) { success code lease { obj token } } }"
ACCESS_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "principal", "operation")
SETTLE = 20.0


def entries(server: LiveServer) -> list[dict[str, Any]]:
    """Every line of the server's log, each parsed as JSON: one that does not parse fails."""
    lines = [line for line in server.stderr().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"a log line is not JSON: {line!r}") from None
    return parsed


def of(server: LiveServer, logger: str) -> list[dict[str, Any]]:
    return [entry for entry in entries(server) if entry["logger"] == logger]


def access_line(server: LiveServer, request_id: str) -> dict[str, Any]:
    """The one access line of request `request_id`, once gunicorn wrote it (after the answer)."""
    wait_until(
        lambda: any(e["request_id"] == request_id for e in of(server, "objmgr.access")),
        SETTLE,
        f"the access line of {request_id}",
    )
    (line,) = [e for e in of(server, "objmgr.access") if e["request_id"] == request_id]
    return line


def send(
    server: LiveServer,
    request_id: str | None,
    secret: str | None = None,
    method: str = "POST",
    path: str = "/graphql",
    **kw: Any,
) -> requests.Response:
    headers = dict(kw.pop("headers", {}))
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    return requests.request(
        method, server.base_url + path, headers=headers, timeout=HTTP_TIMEOUT, **kw
    )


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A production server, two workers on SQLite, logging in its default format."""
    live = LiveServer(tmp_path_factory.mktemp("logs"))
    try:
        live.start(
            {
                "OBJMGR_ENV": "production",
                "OBJMGR_TOKENS": TOKENS,
                "OBJMGR_ADMINS": "root",
                "OBJMGR_METRICS_TOKEN": METRICS,
            }
        )
        yield live
    finally:
        live.close()


def test_each_request_logs_one_access_line_with_its_id_errors_included(
    production: LiveServer,
) -> None:
    sent = {
        "grant": send(production, "t-grant", ALICE, json={"query": ACQUIRE}),
        "bad-document": send(production, "t-bad", ALICE, json={"query": "{"}),
        "unauthenticated": send(production, "t-401", json={"query": "{ version }"}),
        "not-found": send(production, "t-404", method="GET", path="/no-such-page"),
        "too-large": send(
            production,
            "t-413",
            ALICE,
            data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
        ),
        "probe": send(production, "t-probe", method="GET", path="/healthz"),
    }
    statuses = {name: answer.status_code for name, answer in sent.items()}
    assert statuses == {
        "grant": 200,
        "bad-document": 400,
        "unauthenticated": 401,
        "not-found": 404,
        "too-large": 413,
        "probe": 200,
    }
    for answer in sent.values():
        request_id = answer.headers["X-Request-Id"]
        line = access_line(production, request_id)
        assert all(field in line for field in ACCESS_FIELDS), line
        assert line["status"] == answer.status_code and line["duration_ms"] >= 0
        assert line["level"] == "INFO" and re.fullmatch(r".+T.+\.\d{3}Z", line["time"])
    grant = access_line(production, "t-grant")
    assert (grant["method"], grant["path"], grant["principal"]) == ("POST", "/graphql", "alice")
    assert grant["operation"] == "acquireObject"
    assert access_line(production, "t-401")["principal"] is None
    assert access_line(production, "t-404")["path"] == "/no-such-page"


def test_each_event_logs_one_line_with_the_request_that_caused_it(
    production: LiveServer,
) -> None:
    lease = send(production, "t-ev-grant", ALICE, json={"query": ACQUIRE}).json()
    held = lease["data"]["acquireObject"]["lease"]
    free = f"mutation {{ freeObject(obj: {held['obj']}, token: {held['token']}) {{ success }} }}"
    assert send(production, "t-ev-free", ALICE, json={"query": free}).status_code == 200
    create = 'mutation { createPool(name: "audited", size: 2) { success } }'
    assert send(production, "t-ev-pool", ROOT, json={"query": create}).status_code == 200
    for request_id in ("t-ev-grant", "t-ev-free", "t-ev-pool"):
        access_line(production, request_id)  # written after the events of its request

    caused = {
        e["request_id"]: e for e in of(production, "objmgr.events") if e["request_id"] is not None
    }
    grant, free_line, pool = caused["t-ev-grant"], caused["t-ev-free"], caused["t-ev-pool"]
    assert (grant["kind"], grant["obj"], grant["token"]) == ("GRANTED", held["obj"], held["token"])
    assert grant["owner"] == "alice" and grant["principal"] == "alice"
    assert grant["expires_at"] is None and grant["at"].endswith("Z")
    assert (free_line["kind"], free_line["obj"], free_line["seq"]) == (
        "FREED",
        held["obj"],
        grant["seq"] + 1,
    )
    assert (pool["kind"], pool["pool"], pool["size"]) == ("POOL_CREATED", "audited", 2)
    assert pool["principal"] == "root"


def test_a_request_without_a_usable_id_gets_a_new_one_and_the_raw_one_is_never_logged(
    production: LiveServer,
) -> None:
    unusable = ["x" * 129, "two words", "<script>alert(1)</script>", "id;level=ERROR"]
    for sent in [None, *unusable]:
        answer = send(production, sent, ALICE, json={"query": ACQUIRE})
        assert answer.status_code == 200
        request_id = answer.headers["X-Request-Id"]
        assert GENERATED.fullmatch(request_id), (sent, request_id)
        access_line(production, request_id)
        events = [e for e in of(production, "objmgr.events") if e["request_id"] == request_id]
        assert [e["kind"] for e in events] == ["GRANTED"]
    log = production.stderr()
    for sent in unusable:
        assert sent not in log


def test_no_secret_reaches_the_log_though_every_request_carried_one(
    production: LiveServer,
) -> None:
    requests_sent = [
        send(production, "t-s-alice", ALICE, json={"query": "{ version }"}),
        send(production, "t-s-root", ROOT, json={"query": "{ pools(first: 5) { name } }"}),
        send(production, "t-s-metrics", METRICS, method="GET", path="/metrics"),
        send(production, "t-s-metrics-bad", WRONG[0], method="GET", path="/metrics"),
        send(production, "t-s-wrong", WRONG[0], json={"query": "{ version }"}),
        send(
            production,
            "t-s-basic",
            json={"query": "{ version }"},
            headers={"Authorization": f"Basic {WRONG[1]}"},
        ),
        # A GraphQL token does not open /metrics, nor the metrics secret /graphql.
        send(production, "t-s-cross", METRICS, json={"query": "{ version }"}),
    ]
    assert [answer.status_code for answer in requests_sent] == [200, 200, 200, 401, 401, 401, 401]
    for answer in requests_sent:
        access_line(production, answer.headers["X-Request-Id"])
    log = production.stderr()
    for secret in (ALICE, ROOT, METRICS, *WRONG):
        assert secret not in log, "a secret in the log"
    assert "Bearer" not in log and "Authorization" not in log


def test_a_store_url_password_never_reaches_the_log(live_server: LiveServer) -> None:
    url_secret = "url-password-0123456789"
    env = {
        # No Redis listens there: the store is unavailable, and says so in the log.
        "OBJMGR_STORE": f"redis://objmgr:{url_secret}@127.0.0.1:{free_port()}/0",
        "OBJMGR_LOG_FORMAT": "json",
    }
    password = "env-password-0123456789"
    if "redis_password" in Settings.__dataclass_fields__:
        env["OBJMGR_REDIS_PASSWORD"] = password
    live_server.start(env)
    answer = send(live_server, "t-redis", json={"query": ACQUIRE}).json()
    assert answer["data"]["acquireObject"]["code"] == "STORE_UNAVAILABLE"
    assert send(live_server, "t-ready", method="GET", path="/readyz").status_code == 503
    access_line(live_server, "t-ready")
    log = live_server.stderr()
    assert any(e["level"] in ("WARNING", "ERROR") for e in entries(live_server)), log
    assert url_secret not in log and password not in log


def test_in_text_mode_every_line_is_key_value_pairs(live_server: LiveServer) -> None:
    live_server.start({"OBJMGR_LOG_FORMAT": "text"})
    send(live_server, "t-text", json={"query": ACQUIRE})

    def lines() -> list[dict[str, str]]:
        parsed = []
        for line in live_server.stderr().splitlines():
            pairs = LOGFMT_PAIR.findall(line)
            assert " ".join(f"{k}={v}" for k, v in pairs) == line, f"not key=value: {line!r}"
            parsed.append({k: json.loads(v) if v.startswith('"') else v for k, v in pairs})
        return parsed

    def access_lines() -> list[dict[str, str]]:
        return [
            line
            for line in lines()
            if line["logger"] == "objmgr.access" and line.get("request_id") == "t-text"
        ]

    wait_until(lambda: bool(access_lines()), SETTLE, "the access line")
    (access,) = access_lines()
    assert (access["method"], access["path"], access["status"]) == ("POST", "/graphql", "200")
    assert access["message"] == "POST /graphql 200" and access["principal"] == "null"
    (grant,) = [line for line in lines() if line.get("request_id") == "t-text" and "kind" in line]
    assert grant["kind"] == "GRANTED" and grant["logger"] == "objmgr.events"


# a full disk -------------------------------------------------------------------
def test_a_full_disk_logs_one_line_per_failure_not_a_traceback(
    live_server: LiveServer, tmp_path: Path
) -> None:
    attempts = 60
    with small_tmpfs(tmp_path / "disk") as disk:
        live_server.start(
            {"OBJMGR_STORE": f"sqlite:///{disk}/objmgr.sqlite3", "OBJMGR_LOG_FORMAT": "json"}
        )
        assert send(live_server, "t-before", json={"query": ACQUIRE}).status_code == 200
        fill(disk)

        def acquire(number: int) -> str:
            body = send(live_server, f"t-full-{number}", json={"query": ACQUIRE}).json()
            return str(body["data"]["acquireObject"]["code"])

        # Many at once, so that the workers batch their commits as they do under load.
        with concurrent.futures.ThreadPoolExecutor(10) as clients:
            codes = list(clients.map(acquire, range(attempts)))
        assert codes == ["STORE_UNAVAILABLE"] * attempts
        for number in range(attempts):
            access_line(live_server, f"t-full-{number}")
        live_server.stop()

    log = live_server.stderr()
    assert "Traceback" not in log
    errors = of(live_server, "objmgr.errors")
    store_errors = [e for e in entries(live_server) if e["logger"].startswith("app.stores")]
    assert len(errors) <= attempts and len(store_errors) <= attempts, (errors, store_errors)
    assert all(e["level"] == "ERROR" and ":" in e["message"] for e in errors), errors
    assert all("\n" not in e["message"] for e in errors + store_errors)
