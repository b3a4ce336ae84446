"""A Redis that asks for a password: the default user's, and an ACL user holding only
the commands, keys and channel the store needs.

`MINIMAL_ACL` is that user's whole grant; the workload runs every kind of
command the store sends (operations, waiting on pub/sub with a session, the
journal's blocking read) and `ACL LOG` shows nothing was denied, so a command
added to the store without a line here fails this test.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from app import Settings, create_app
from app.logs import configure_logging
from app.pool.errors import OutcomeUnknown, StoreUnavailable
from app.pool.lease import AcquireRequest, Caller, Lease
from app.service import LeaseService
from app.stores.redis import RedisStore
from app.stores.redis.topology import RedisOptions

from .api_support import Api, granted, refused
from .conditions import wait_until
from .support.redis_server import RedisServer, launch_redis

ADMIN_SECRET = "admin-Qe2Lk9Pw3Rt-Zx8v1"
ACL_USER = "objmgr"
ACL_SECRET = "acl-Zx8v1Qe2Lk9Pw3Rt"
WRONG_SECRET = "wrong-Lk9Pw3RtZx8v1Qe2"
ROOT = Caller.auth_off()
BOUND = 10.0

#: What the store needs of Redis, and nothing else (Redis 7 checks a script's
#: own calls against it too).
MINIMAL_ACL = (
    "reset",
    "on",
    f">{ACL_SECRET}",
    "~objmgr:*",
    "&objmgr:changed",
    # Sent by the store.
    "+ping",
    "+evalsha",
    "+script|load",
    "+wait",
    "+get",
    "+set",
    "+del",
    "+exists",
    "+zadd",
    "+zrem",
    "+zrange",
    "+smembers",
    "+xrange",
    "+xread",
    "+subscribe",
    # Called by its scripts.
    "+hdel",
    "+hexists",
    "+hget",
    "+hgetall",
    "+hincrby",
    "+hmget",
    "+hset",
    "+publish",
    "+time",
    "+unlink",
    "+xadd",
    "+zcard",
    "+zcount",
    "+zlexcount",
    "+zrangebylex",
    "+zrangebyscore",
    "+zrevrangebyscore",
    "+zscore",
)


class PasswordRedisServer(RedisServer):
    """A redis-server whose default user needs `ADMIN_SECRET`."""

    def client(self, timeout: float = 1.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=ADMIN_SECRET,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )

    def command(self) -> list[str]:
        return [*super().command(), "--requirepass", ADMIN_SECRET]


@pytest.fixture(scope="module")
def auth_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordRedisServer]:
    server = launch_redis(tmp_path_factory.mktemp("auth-redis"), PasswordRedisServer)
    with server.client() as admin:
        admin.execute_command("ACL", "SETUSER", ACL_USER, *MINIMAL_ACL)
    yield server
    server.stop()


@pytest.fixture
def admin(auth_redis: PasswordRedisServer) -> Iterator[redis.Redis]:
    with auth_redis.client() as client:
        client.flushall()
        client.execute_command("ACL", "LOG", "RESET")
        yield client


def url_of(server: RedisServer, user: str | None = None) -> str:
    return f"redis://{user + '@' if user else ''}127.0.0.1:{server.port}/0"


def denials(admin: redis.Redis) -> list[dict[str, Any]]:
    """`ACL LOG`: what Redis refused the store's users (commands, keys, channels)."""
    return list(admin.acl_log())  # type: ignore[arg-type]


def held_then_freed(service: LeaseService) -> Lease:
    """A grant that waited in the queue (session keys, pub/sub) for a free."""
    held = service.acquire(ROOT, ttl=60)
    outcome: dict[str, Any] = {}

    def wait_for_one() -> None:
        try:
            outcome["lease"] = service.acquire(ROOT, owner="waiter", wait=BOUND)
        except Exception as error:  # shown by the assertion below
            outcome["error"] = error

    waiter = threading.Thread(target=wait_for_one, daemon=True)
    waiter.start()
    wait_until(lambda: getattr(service.pool(), "waiting", 0) == 1, BOUND, "the acquire to wait")
    service.free(ROOT, held.obj, token=held.token)
    waiter.join(BOUND)
    assert "lease" in outcome, outcome
    lease: Lease = outcome["lease"]
    return lease


def followed_event(store: RedisStore, admin: redis.Redis) -> None:
    """A journal read that blocked in XREAD until an acquire wrote the next event."""
    last = store.events("default", 0, 1000)[-1].seq
    seen: list[Any] = []
    reader = threading.Thread(
        target=lambda: seen.extend(store.wait_for_events("default", last, 10, BOUND)), daemon=True
    )
    reader.start()
    wait_until(
        lambda: any(c.get("cmd") == "xread" for c in admin.client_list()),
        BOUND,
        "the read to block",
    )
    store.acquire(AcquireRequest("default", owner="follower"))
    reader.join(BOUND)
    assert [event.seq for event in seen][:1] == [last + 1]


def test_the_acl_user_with_the_minimal_grant_does_everything(
    auth_redis: PasswordRedisServer, admin: redis.Redis
) -> None:
    store = RedisStore(
        url_of(auth_redis, ACL_USER),
        default_pool=("default", 1),
        options=RedisOptions(password=ACL_SECRET),
    )
    try:
        store.open()
        service = LeaseService(store)
        store.ping()
        store.check_ready()
        waited = held_then_freed(service)
        assert service.renew(ROOT, waited.obj, waited.token, ttl=30).token == waited.token
        service.free(ROOT, waited.obj, token=waited.token)
        followed_event(store, admin)
        service.create_pool(ROOT, "gpu", 3)
        service.set_policy(ROOT, "gpu", {"max_per_owner": 2})
        service.resize_pool(ROOT, "gpu", 4)
        gpu = service.acquire(ROOT, pool="gpu", owner="alice", ttl=60)
        assert [lease.obj for lease in service.owner_leases("alice")] == [gpu.obj]
        assert [pool.name for pool in service.pools()] == ["default", "gpu"]
        assert service.leases("gpu") == [gpu]
        assert [lease.obj for lease in service.revoke(ROOT, "gpu", owner="alice")] == [gpu.obj]
        service.delete_pool(ROOT, "gpu", force=True)
        assert service.events("default", 0, 1000)
        assert admin.acl_whoami() == "default"
        clients = [c for c in admin.client_list() if c.get("user") == ACL_USER]
        assert clients, "the store's connections are the ACL user's"
    finally:
        store.close()
    assert denials(admin) == []


def test_a_grant_missing_a_command_is_seen(
    auth_redis: PasswordRedisServer, admin: redis.Redis
) -> None:
    """The check above can fail: a user without XADD cannot write the journal."""
    admin.execute_command("ACL", "SETUSER", "lacking", *MINIMAL_ACL, "-xadd")
    store = RedisStore(
        url_of(auth_redis, "lacking"),
        default_pool=("default", 1),
        options=RedisOptions(password=ACL_SECRET),
    )
    try:
        # Opening writes the default pool's journal: refused, reported as such.
        with pytest.raises(StoreUnavailable, match="NOPERM"):
            store.open()
        # A change a script began may be partly made: its outcome is unknown.
        with pytest.raises(OutcomeUnknown, match="NOPERM"):
            LeaseService(store).acquire(ROOT)
    finally:
        store.close()
        admin.execute_command("ACL", "DELUSER", "lacking")
    assert any(entry["object"] == "xadd" for entry in denials(admin)), denials(admin)


def test_the_default_user_with_the_password_from_the_options(
    auth_redis: PasswordRedisServer, admin: redis.Redis
) -> None:
    store = RedisStore(
        url_of(auth_redis), default_pool=("default", 2), options=RedisOptions(password=ADMIN_SECRET)
    )
    try:
        store.open()
        lease = LeaseService(store).acquire(ROOT)
        assert LeaseService(store).lease(lease.obj) == lease
    finally:
        store.close()


def served(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    try:
        yield Api(app)
    finally:
        app.extensions["objmgr"].store.close()


def test_a_served_app_with_the_password_variable(
    auth_redis: PasswordRedisServer, admin: redis.Redis
) -> None:
    env = {"OBJMGR_STORE": url_of(auth_redis, ACL_USER), "OBJMGR_REDIS_PASSWORD": ACL_SECRET}
    for api in served(Settings.from_env(env)):
        assert api.request("GET", "/readyz").status_code == 200
        assert granted(api.acquire())["lease"]["obj"] == 1


def test_a_served_app_with_the_password_file(
    auth_redis: PasswordRedisServer, admin: redis.Redis, tmp_path: Path
) -> None:
    secret_file = tmp_path / "redis-password"
    secret_file.write_text(f"{ACL_SECRET}\n")
    env = {
        "OBJMGR_STORE": url_of(auth_redis, ACL_USER),
        "OBJMGR_REDIS_PASSWORD_FILE": str(secret_file),
    }
    for api in served(Settings.from_env(env)):
        assert api.request("GET", "/readyz").status_code == 200
        assert granted(api.acquire())["lease"]["obj"] == 1


@pytest.mark.parametrize(
    ("user", "password"),
    [(ACL_USER, WRONG_SECRET), (None, WRONG_SECRET), (None, None)],
    ids=["wrong-acl-password", "wrong-default-password", "no-password"],
)
def test_a_wrong_password_is_store_unavailable_and_no_secret_is_shown(
    auth_redis: PasswordRedisServer,
    admin: redis.Redis,
    capsys: pytest.CaptureFixture[str],
    user: str | None,
    password: str | None,
) -> None:
    store = RedisStore(
        url_of(auth_redis, user), default_pool=("default", 2), options=RedisOptions(password)
    )
    try:
        with pytest.raises(StoreUnavailable) as raised:
            store.open()
    finally:
        store.close()
    for secret in (WRONG_SECRET, ACL_SECRET, ADMIN_SECRET):
        assert secret not in raised.value.message

    env = {"OBJMGR_STORE": url_of(auth_redis, user)}
    if password is not None:
        env["OBJMGR_REDIS_PASSWORD"] = password
    configure_logging(as_json=True)
    capsys.readouterr()
    try:
        for api in served(Settings.from_env(env)):
            ready = api.request("GET", "/readyz", unavailable_ok=True)
            assert ready.status_code == 503
            message = refused(api.acquire(), "STORE_UNAVAILABLE")
            written = capsys.readouterr().err + ready.get_data(as_text=True) + message
            assert "store not ready at start" in written
            for secret in (WRONG_SECRET, ACL_SECRET, ADMIN_SECRET):
                assert secret not in written
    finally:
        configure_logging(as_json=False)
