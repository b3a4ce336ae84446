"""Structured logs in-process: the two line formats, request ids, the audit trail on
every store, secrets scrubbed, and gevent's errors as one line each.

Lines are read as they reach stderr through the handler `configure_logging` puts
on the root logger, the one the server writes with.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import gevent
import pytest

from app import Settings, create_app
from app.config import ConfigError
from app.logs import configure_logging, log_events, masked_url
from app.logs.hub_errors import log_hub_errors
from app.logs.request_ids import MAX_REQUEST_ID, request_id_for
from app.logs.secrets import scrub
from app.pool.lease import AcquireRequest, Caller
from app.request_record import RequestRecord, serving
from app.stores.base import Store

from .api_support import Api
from .conftest import Clock, StoreFactory

GENERATED = re.compile(r"[0-9a-f]{32}")
# key=value pairs: a bare value, or a JSON string (quotes and escapes inside).
LOGFMT_PAIR = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ "]+)')
ALICE, ROOT = "alice-secret-0123456789", "root-secret-0123456789"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of `text` as JSON: a line that does not parse fails the test."""
    return [json.loads(line) for line in text.splitlines() if line]


def logfmt(line: str) -> dict[str, str]:
    """A text line's pairs; the whole line must be pairs and nothing else."""
    pairs = LOGFMT_PAIR.findall(line)
    assert " ".join(f"{key}={value}" for key, value in pairs) == line, line
    return {key: json.loads(value) if value.startswith('"') else value for key, value in pairs}


@pytest.fixture
def stderr_lines(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """stderr captured, the root handler restored to text afterwards."""
    yield capsys
    configure_logging(as_json=False)


# the two formats ---------------------------------------------------------
def test_a_json_line_has_the_fixed_fields_and_the_records_own(
    stderr_lines: pytest.CaptureFixture[str],
) -> None:
    configure_logging(as_json=True)
    stderr_lines.readouterr()
    logging.getLogger("objmgr.test").warning(
        "two\nlines %s", "here", extra={"objmgr_fields": {"pool": "p", "obj": 3, "time": "x"}}
    )
    (line,) = stderr_lines.readouterr().err.splitlines()
    entry = json.loads(line)
    assert list(entry)[:4] == ["time", "level", "logger", "message"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"]), entry
    assert entry["level"] == "WARNING" and entry["logger"] == "objmgr.test"
    assert entry["message"] == "two\nlines here", "a newline is escaped, never a second line"
    assert entry["pool"] == "p" and entry["obj"] == 3


def test_a_json_line_holds_its_traceback_as_a_field(
    stderr_lines: pytest.CaptureFixture[str],
) -> None:
    configure_logging(as_json=True)
    stderr_lines.readouterr()
    try:
        raise ValueError("bad value")
    except ValueError:
        logging.getLogger("objmgr.test").exception("it failed")
    (entry,) = json_lines(stderr_lines.readouterr().err)
    assert entry["error"] == "ValueError: bad value"
    assert "Traceback" in entry["traceback"] and "bad value" in entry["traceback"]


def test_a_text_line_is_key_value_pairs_with_client_text_quoted(
    stderr_lines: pytest.CaptureFixture[str],
) -> None:
    configure_logging(as_json=False)
    stderr_lines.readouterr()
    label = 'job 42 "nightly"\nlevel=ERROR logger=forged'
    logging.getLogger("objmgr.test").info(
        "granted", extra={"objmgr_fields": {"label": label, "obj": 7, "owner": None}}
    )
    (line,) = stderr_lines.readouterr().err.splitlines()
    fields = logfmt(line)
    assert line.startswith("time=") and fields["level"] == "INFO"
    assert fields["logger"] == "objmgr.test" and fields["message"] == "granted"
    assert fields["label"] == label, "the label comes back whole, inside one quoted value"
    assert fields["obj"] == "7" and fields["owner"] == "null"


def test_a_text_traceback_follows_indented(stderr_lines: pytest.CaptureFixture[str]) -> None:
    configure_logging(as_json=False)
    stderr_lines.readouterr()
    try:
        raise KeyError("k")
    except KeyError:
        logging.getLogger("objmgr.test").exception("lookup failed")
    first, *rest = stderr_lines.readouterr().err.splitlines()
    assert logfmt(first)["error"] == "KeyError: 'k'"
    assert rest and all(line.startswith("    ") for line in rest), rest


# request ids ---------------------------------------------------------------
@pytest.mark.parametrize(
    "sent", ["trace-1", "a" * MAX_REQUEST_ID, "00-4bf92f3577b34da6-00f067aa0ba902b7-01", "x/y+z="]
)
def test_a_usable_request_id_is_kept(sent: str) -> None:
    assert request_id_for(sent) == sent


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(None, id="none-sent"),
        pytest.param("", id="empty"),
        pytest.param("a" * (MAX_REQUEST_ID + 1), id="too-long"),
        pytest.param("two words", id="a-space"),
        pytest.param("id\nlevel=ERROR", id="a-newline"),
        pytest.param('quote"d', id="a-quote"),
        pytest.param("naïve", id="not-ascii"),
    ],
)
def test_any_other_request_id_is_replaced_by_a_new_one(sent: str | None) -> None:
    assert GENERATED.fullmatch(request_id_for(sent))


def _memory_app(**settings: Any) -> Api:
    return Api(create_app(Settings(store="memory://", pool_size=3, workers=1, **settings)))


def test_every_answer_echoes_the_request_id_errors_included() -> None:
    api = _memory_app(tokens=_tokens(), admins=frozenset({"root"}))
    authorized = {"Authorization": f"Bearer {ALICE}"}
    answers = {
        "granted": api.request("POST", json={"query": "{ version }"}, headers=authorized),
        "unauthenticated": api.request("POST", json={"query": "{ version }"}),
        "not found": api.request("GET", "/no-such-page"),
        "bad request": api.request("POST", json={"query": "{"}, headers=authorized),
        "too large": api.request(
            "POST",
            data=b"{" + b" " * (2 * 1024 * 1024) + b"}",
            content_type="application/json",
            headers=authorized,
        ),
        "probe": api.request("GET", "/healthz"),
    }
    statuses = {name: answer.status_code for name, answer in answers.items()}
    assert statuses == {
        "granted": 200,
        "unauthenticated": 401,
        "not found": 404,
        "bad request": 400,
        "too large": 413,
        "probe": 200,
    }
    for name, answer in answers.items():
        assert GENERATED.fullmatch(answer.headers.get("X-Request-Id", "")), name
    sent = api.request("GET", "/healthz", headers={"X-Request-Id": "trace-7"})
    assert sent.headers.get_all("X-Request-Id") == ["trace-7"]
    replaced = api.request("GET", "/healthz", headers={"X-Request-Id": "two words"})
    assert GENERATED.fullmatch(replaced.headers["X-Request-Id"])


def _tokens() -> Mapping[str, bytes]:
    return Settings.from_env({"OBJMGR_TOKENS": f"alice:{ALICE},root:{ROOT}"}).tokens


# the audit trail -----------------------------------------------------------
def test_each_event_of_a_request_is_one_line_with_its_request_id(
    stderr_lines: pytest.CaptureFixture[str],
) -> None:
    api = _memory_app(log_format="json")
    stderr_lines.readouterr()
    granted = api.post(
        'mutation { acquireObject(owner: "ci-7", label: "job 42", ttl: 60) '
        "{ lease { obj token } } }",
        headers={"X-Request-Id": "trace-grant"},
    ).get_json()["data"]["acquireObject"]["lease"]
    api.post(
        "mutation($obj: Int!, $token: BigInt!) "
        "{ freeObject(obj: $obj, token: $token) { success } }",
        {"obj": granted["obj"], "token": granted["token"]},
        headers={"X-Request-Id": "trace-free"},
    )
    events = [
        e for e in json_lines(stderr_lines.readouterr().err) if e["logger"] == "objmgr.events"
    ]
    assert [(e["kind"], e["request_id"]) for e in events] == [
        ("GRANTED", "trace-grant"),
        ("FREED", "trace-free"),
    ]
    grant = events[0]
    assert grant["pool"] == "default" and grant["obj"] == granted["obj"]
    assert grant["token"] == granted["token"] and grant["seq"] + 1 == events[1]["seq"]
    assert grant["owner"] == "ci-7" and grant["label"] == "job 42" and grant["principal"] is None
    for name in ("at", "reason", "size", "expires_at"):
        assert name in grant, name


def test_every_store_logs_each_committed_event_with_the_request_that_caused_it(
    store_factory: StoreFactory, clock: Clock, stderr_lines: pytest.CaptureFixture[str]
) -> None:
    store: Store = store_factory()
    store.listen(log_events)
    configure_logging(as_json=True)
    store.create_pool("audit", 5, principal="root")
    stderr_lines.readouterr()
    with serving(RequestRecord("trace-store", "POST", "/graphql")):
        lease = store.acquire(AcquireRequest("audit", owner="alice", ttl=10, principal="alice"))
        store.renew("audit", lease.obj, lease.token, Caller("alice", is_admin=False), ttl=20)
    clock.advance(60)
    # Off any request, as the reaper works: its lines carry no request id.
    store.acquire(AcquireRequest("audit", owner="next"))
    store.resize_pool("audit", 6, principal="root")
    events = [
        e for e in json_lines(stderr_lines.readouterr().err) if e["logger"] == "objmgr.events"
    ]
    kinds = [(e["kind"], e["request_id"]) for e in events]
    assert kinds == [
        ("GRANTED", "trace-store"),
        ("RENEWED", "trace-store"),
        ("EXPIRED", None),
        ("GRANTED", None),
        ("POOL_RESIZED", None),
    ], kinds
    assert [e["seq"] for e in events] == list(range(events[0]["seq"], events[0]["seq"] + 5))
    renewed, resized = events[1], events[4]
    assert renewed["expires_at"] is not None and renewed["principal"] == "alice"
    assert resized["size"] == 6 and resized["principal"] == "root"


# secrets ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("redis://objmgr:s3cret@cache:6379/0", "redis://objmgr:***@cache:6379/0"),
        ("redis://:s3cret@cache/0", "redis://:***@cache/0"),
        ("rediss://s3cret@cache", "rediss://***@cache"),
        ("cannot reach redis://u:p@h:1 now", "cannot reach redis://u:***@h:1 now"),
        ("sqlite:////var/lib/a@b/objmgr.sqlite3", "sqlite:////var/lib/a@b/objmgr.sqlite3"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
    ],
)
def test_a_store_url_is_logged_with_its_password_masked(text: str, masked: str) -> None:
    assert masked_url(text) == masked


def test_a_refused_store_url_is_quoted_with_its_password_masked() -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"OBJMGR_STORE": "mysql://objmgr:s3cret-pw@db/objmgr"})
    assert "s3cret-pw" not in str(refused.value)
    assert "mysql://objmgr:***@db/objmgr" in str(refused.value)


def test_a_bearer_token_is_masked_in_any_line(stderr_lines: pytest.CaptureFixture[str]) -> None:
    configure_logging(as_json=True)
    stderr_lines.readouterr()
    logging.getLogger("objmgr.test").error("refused header Authorization: Bearer %s", ALICE)
    text = stderr_lines.readouterr().err
    assert ALICE not in text and "Bearer ***" in text
    assert scrub(f"bearer {ROOT}") == "bearer ***"


# gevent's errors -------------------------------------------------------------
def test_a_greenlet_dying_is_one_line_without_a_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    hub = gevent.get_hub()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    errors = logging.getLogger("objmgr.errors")
    errors.addHandler(handler)
    log_hub_errors(hub)
    try:

        def fail() -> None:
            raise OSError(28, "No space left on device")

        gevent.spawn(fail).join()
    finally:
        del hub.print_exception  # the hub's own again
        errors.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["OSError: [Errno 28] No space left on device"]
    assert "Traceback" not in capfd.readouterr().err
