"""app.client without a server: what it makes of answers, and that it stands alone."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.client import Client, HeldLease, Lease, ObjmgrError, _data

CLIENT = Path(__file__).resolve().parents[1] / "app" / "client.py"


def _error(status: int, body: object) -> ObjmgrError:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(ObjmgrError) as caught:
        _data(status, raw)
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
    assert query_error.code == "POOL_NOT_FOUND"
    proxy = _error(502, b"<html>Bad Gateway</html>")
    assert proxy.code == "BAD_RESPONSE" and proxy.transport and proxy.retryable
    crashed = _error(500, {"errors": [{"message": "x", "extensions": {}}]})
    assert crashed.transport
    assert _data(200, b'{"data": {"version": "1"}}') == {"version": "1"}


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("STORE_UNAVAILABLE", True),
        ("OUTCOME_UNKNOWN", True),
        ("POOL_EXHAUSTED", False),
        ("STALE_TOKEN", False),
    ],
)
def test_a_lost_reply_and_an_unreachable_store_are_retried(code: str, retryable: bool) -> None:
    assert ObjmgrError(code, "from a payload").retryable is retryable


def test_the_client_module_stands_alone(tmp_path: Path) -> None:
    """Copied next to a script, it imports with the standard library only."""
    copy = tmp_path / "objmgr_client.py"
    copy.write_text(CLIENT.read_text())
    probe = (
        "import sys, objmgr_client;"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'graphene', 'graphql', 'werkzeug', 'requests', 'app'));"
        "print(heavy, objmgr_client.__version__)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[] standalone"


class _FailingClient(Client):
    def renew(self, *args: object, **kwargs: object) -> Lease:
        raise ObjmgrError("UNREACHABLE", "no route")


def test_a_lease_not_renewed_in_time_counts_as_lost() -> None:
    now = datetime.now(UTC)
    granted = Lease("p", 1, 7, None, None, now, now)
    held = HeldLease(_FailingClient("http://127.0.0.1:1"), granted, 0.4, 0.1, time.monotonic())
    held.start()
    try:
        time.sleep(0.2)
        assert not held.lost, "a failed renewal alone does not lose the lease before its expiry"
        assert held.error is not None and held.error.code == "UNREACHABLE"
        time.sleep(0.4)
        assert held.lost
        with pytest.raises(ObjmgrError, match="LEASE_LOST"):
            held.check()
    finally:
        held.stop()
