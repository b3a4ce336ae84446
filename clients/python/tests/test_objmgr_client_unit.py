"""objmgr_client without a server: answers read, errors told apart, retries and deadlines kept.

Where a test needs the network to fail it uses a real one: a loopback port
nothing listens on, or a `LossyProxy` that hangs up without a reply.
"""

from __future__ import annotations

import ast
import json
import pickle
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import objmgr_client
import pytest
from conftest import ProxyFactory
from objmgr_client import Client, Event, HeldLease, Lease, ObjmgrError, Pool
from objmgr_client.holding import MIN_RETRY_DELAY
from objmgr_client.transport import decode_answer

from tests.conditions import poll_until
from tests.live.support import free_port

PACKAGE = Path(objmgr_client.__file__).resolve().parent


def _error(status: int, body: object) -> ObjmgrError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ObjmgrError) as caught:
        decode_answer(status, raw)
    return caught.value


def test_answers_become_codes() -> None:
    unauthenticated = _error(
        401, {"errors": [{"message": "send a token", "extensions": {"code": "UNAUTHENTICATED"}}]}
    )
    assert (unauthenticated.code, unauthenticated.status) == ("UNAUTHENTICATED", 401)
    assert not unauthenticated.retryable
    invalid = _error(
        400,
        {
            "data": None,
            "errors": [{"message": "no", "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}],
        },
    )
    assert invalid.code == "GRAPHQL_VALIDATION_FAILED" and not invalid.transport
    query_error = _error(
        200, {"data": {"lease": None}, "errors": [{"extensions": {"code": "POOL_NOT_FOUND"}}]}
    )
    assert query_error.code == "POOL_NOT_FOUND" and query_error.gone
    proxy = _error(502, b"<html>Bad Gateway</html>")
    assert proxy.code == "BAD_RESPONSE" and proxy.transport and proxy.retryable
    crashed = _error(500, {"errors": [{"message": "x", "extensions": {}}]})
    assert crashed.code == "BAD_RESPONSE" and crashed.transport
    assert _error(413, {"errors": [{"message": "big"}]}).code == "HTTP_413"
    assert decode_answer(200, b'{"data": {"version": "1"}}') == {"version": "1"}


def test_an_answer_without_the_fields_of_a_lease_is_a_bad_response() -> None:
    with pytest.raises(ObjmgrError) as caught:
        Lease.from_json({"pool": "p", "obj": "one"})
    assert caught.value.code == "BAD_RESPONSE" and caught.value.retryable
    with pytest.raises(ObjmgrError, match="BAD_RESPONSE"):
        Pool.from_json({"name": "p", "size": None})


def test_an_event_reads_as_the_api_spells_it_and_back() -> None:
    answer = {
        "seq": 12,
        "pool": "ports",
        "kind": "RENEWED",
        "at": "2026-11-22T05:30:02.125381+00:00",
        "obj": 7,
        "token": 2**40,
        "owner": "ci-7",
        "label": "job 42",
        "principal": "ci-7",
        "reason": None,
        "size": None,
        "expiresAt": "2026-11-22T05:32:02.125381+00:00",
    }
    event = Event.from_json(answer)
    assert event == Event(
        seq=12,
        pool="ports",
        kind="RENEWED",
        at=datetime(2026, 11, 22, 5, 30, 2, 125381, tzinfo=UTC),
        obj=7,
        token=2**40,
        owner="ci-7",
        label="job 42",
        principal="ci-7",
        size=None,
        expires_at=datetime(2026, 11, 22, 5, 32, 2, 125381, tzinfo=UTC),
    )
    assert event.to_json() == answer
    created = Event.from_json(
        {"seq": 1, "pool": "ports", "kind": "POOL_CREATED", "at": answer["at"], "size": 10}
    )
    assert (created.size, created.obj, created.expires_at) == (10, None, None)


def test_an_answer_without_the_fields_of_an_event_is_a_bad_response() -> None:
    with pytest.raises(ObjmgrError) as caught:
        Event.from_json({"seq": 1, "pool": "p", "kind": "FREED"})
    assert caught.value.code == "BAD_RESPONSE"
    with pytest.raises(ObjmgrError, match="BAD_RESPONSE"):
        Event.from_json({"seq": 1, "pool": "p", "kind": "FREED", "at": "yesterday"})


def test_follow_refuses_an_interval_or_a_page_it_cannot_keep() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}")
    for interval in (0.0, -1.0, 61.0):
        with pytest.raises(ValueError, match="interval"):
            next(client.follow("p", interval=interval))
    with pytest.raises(ValueError, match="first"):
        next(client.follow("p", first=0))


def test_follow_raises_the_error_of_a_read_and_ends() -> None:
    follower = Client(f"http://127.0.0.1:{free_port()}", timeout=2).follow("p")
    with pytest.raises(ObjmgrError) as caught:
        next(follower)
    assert caught.value.code == "UNREACHABLE"
    with pytest.raises(StopIteration):
        next(follower)


@pytest.mark.parametrize(
    ("code", "retryable", "gone"),
    [
        ("STORE_UNAVAILABLE", True, False),
        ("OUTCOME_UNKNOWN", True, False),
        ("UNREACHABLE", True, False),
        ("POOL_EXHAUSTED", False, False),
        ("STALE_TOKEN", False, True),
        ("NOT_ALLOCATED", False, True),
        ("NOT_OWNER", False, True),
        ("POOL_NOT_FOUND", False, True),
    ],
)
def test_which_errors_are_retried_and_which_mean_the_lease_is_gone(
    code: str, retryable: bool, gone: bool
) -> None:
    error = ObjmgrError(code, "from a payload")
    assert (error.retryable, error.gone) == (retryable, gone)


def test_errors_cross_process_boundaries() -> None:
    error = ObjmgrError("STALE_TOKEN", "token 1 is not current", 200)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.code, copy.message, copy.status) == ("STALE_TOKEN", "token 1 is not current", 200)


def test_the_package_imports_the_standard_library_alone() -> None:
    for module in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names, f"{module.name} imports {name}"
    probe = (
        "import sys, objmgr_client;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'graphene', 'graphql', 'werkzeug', 'requests', 'click', 'app')))"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    assert (PACKAGE / "py.typed").is_file()


def test_documents_are_written_in_operations_alone() -> None:
    document = re.compile(r"\b(query|mutation)\s+\w*\s*[({]")
    for module in PACKAGE.glob("*.py"):
        if module.name != "operations.py":
            assert not document.search(module.read_text()), f"a GraphQL document in {module.name}"


def test_urls_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBJMGR_URL", "http://example.invalid:9/")
    monkeypatch.setenv("OBJMGR_TOKEN", "from-env")
    from_env = Client()
    assert (from_env.url, from_env.token) == ("http://example.invalid:9", "from-env")
    assert Client("http://127.0.0.1:1", token="given").token == "given"
    with pytest.raises(ValueError, match="not an http"):
        Client("localhost:5000")


def test_an_acquire_without_answers_is_sent_again_with_the_same_request_id(
    lossy_proxy: ProxyFactory,
) -> None:
    proxy = lossy_proxy(None, 0)
    client = Client(proxy.url, timeout=5, retry_delay=0.01)
    with pytest.raises(ObjmgrError) as caught:
        client.acquire("p", ttl=10)
    assert caught.value.code == "UNREACHABLE"
    ids = [body["variables"]["requestId"] for body in proxy.bodies()]
    assert len(ids) == objmgr_client.DEFAULT_ACQUIRE_ATTEMPTS, "bounded"
    assert len(set(ids)) == 1 and ids[0], "one fresh id, the same on every attempt"

    with pytest.raises(ObjmgrError):
        client.acquire("p", request_id="job-42", attempts=2)
    ids = [body["variables"]["requestId"] for body in proxy.bodies()]
    assert ids[-2:] == ["job-42", "job-42"], "the caller's id is kept"
    assert len(ids) == objmgr_client.DEFAULT_ACQUIRE_ATTEMPTS + 2
    with pytest.raises(ValueError, match="attempts"):
        client.acquire("p", attempts=0)


def _renewer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("objmgr-renewer")]


def test_a_lease_no_renewal_reached_is_lost_at_its_local_deadline(
    lossy_proxy: ProxyFactory,
) -> None:
    proxy = lossy_proxy(None, 0)
    client = Client(proxy.url, timeout=5)
    now = datetime.now(UTC)
    sent_at = time.monotonic()
    held = HeldLease(client, Lease("p", 1, 7, None, None, now, now), 0.6, 0.1, sent_at)
    assert held.deadline == sent_at + 0.6
    assert _renewer_threads() == []
    client.renewer.add(held)
    assert client.renewer.thread in _renewer_threads()

    assert poll_until(lambda: held.error is not None, 5), "no renewal was tried"
    assert held.error is not None and held.error.code == "UNREACHABLE"
    # Failures that may pass are retried; lost only once the deadline is behind.
    lost = held.lost
    left = held.time_left
    assert left is not None and (not lost or left <= 0)
    assert poll_until(lambda: held.lost, 5)
    assert held.time_left is not None and held.time_left <= 0
    with pytest.raises(ObjmgrError) as caught:
        held.check()
    assert caught.value.code == "LEASE_LOST" and "UNREACHABLE" in caught.value.message
    attempts = len(proxy.requests)
    assert 2 <= attempts <= 0.6 / MIN_RETRY_DELAY + 2, "retried before the deadline, no busy loop"

    # A lost lease is dropped; with none left the thread ends by itself.
    assert poll_until(lambda: client.renewer.thread is None, 5)
    assert poll_until(lambda: _renewer_threads() == [], 5)
    assert len(proxy.requests) == attempts, "nothing is renewed once lost"
    client.renewer.remove(held)


def test_a_lease_without_ttl_is_never_renewed_nor_lost() -> None:
    client = Client(f"http://127.0.0.1:{free_port()}")
    now = datetime.now(UTC)
    held = HeldLease(client, Lease("p", 1, 7, None, None, now, None), None, None, time.monotonic())
    client.renewer.add(held)
    assert client.renewer.thread is None and held.deadline is None and not held.lost
    held.check()
    client.renewer.remove(held)
