"""The Sentinel variant of the prod compose file (docker-compose.sentinel.yml), read as
Compose reads it, and its start scripts run on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import redis

from app.config import Settings
from app.config_redis import parse_redis_url
from app.pool.lease import AcquireRequest
from app.stores.redis import RedisStore
from app.stores.redis.topology import RedisOptions

from .conditions import wait_until
from .deploy_files import (
    COMPOSE_SENTINEL,
    ROOT,
    SENTINEL_DIR,
    check_paths,
    compose,
    named_volumes,
    objmgr_replicas,
    parse_redis_conf,
    service_environment,
)
from .support.ports import free_port
from .support.processes import spawn, stop_group


def test_sentinel_compose_primary_replica_three_sentinels_and_replicas_waiting_for_one(
    tmp_path: Path,
) -> None:
    document = compose(COMPOSE_SENTINEL)
    services = document["services"]
    check_paths(COMPOSE_SENTINEL, services)
    replicas = objmgr_replicas(document)
    sentinels = sorted(name for name in services if name.startswith("sentinel-"))
    nodes = ["redis-primary", "redis-replica"]
    assert set(services) == {*nodes, *sentinels, "prometheus", *replicas}
    assert len(sentinels) == 3 and len(replicas) >= 2
    secrets = document["secrets"]
    assert secrets["redis_password"]["file"] == "./secrets/redis-password"
    assert "/secrets/" in (ROOT / ".gitignore").read_text().splitlines()
    assert "$" not in COMPOSE_SENTINEL.read_text().replace("$$", ""), "Compose would interpolate"

    monitor: list[str] = []
    for name in [*nodes, *sentinels]:
        service = services[name]
        script = service["command"][1]
        mounts = dict(v.split(":")[1::-1] for v in service["volumes"])
        assert mounts[str(Path(script).parent)] == "./deploy/sentinel", name
        assert (ROOT / "deploy" / "sentinel" / Path(script).name).is_file(), name
        (data,) = named_volumes(document, service)
        assert mounts["/data"] == data, f"{name}: its config and data outlive the container"
        assert "ports" not in service, f"{name}: reached on the compose network only"
        assert service["secrets"] == ["redis_password"] and service["restart"] == "unless-stopped"
        env = service_environment(service)
        announced = env.get("OBJMGR_REDIS_ANNOUNCE") or env.get("OBJMGR_SENTINEL_ANNOUNCE")
        assert announced == name, f"{name}: announced by its own service name"
    data_volumes = {named_volumes(document, services[name])[0] for name in [*nodes, *sentinels]}
    assert len(data_volumes) == len(nodes) + len(sentinels), "each its own"
    for name in nodes:
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "REDISCLI_AUTH" in check and "/run/secrets/redis_password" in check, name
    replica = services["redis-replica"]
    assert service_environment(replica)["OBJMGR_REDIS_REPLICA_OF"] == "redis-primary 6379"
    assert replica["depends_on"]["redis-primary"]["condition"] == "service_healthy"

    conf = parse_redis_conf((ROOT / "deploy" / "sentinel" / "redis.conf").read_text())
    settings = {line[0]: line[1:] for line in conf}
    assert settings["appendonly"] == ["yes"] and settings["appendfsync"] == ["always"]
    assert settings["maxmemory-policy"] == ["noeviction"]
    assert settings["min-replicas-to-write"] == ["1"]
    sentinel_conf = parse_redis_conf((ROOT / "deploy" / "sentinel" / "sentinel.conf").read_text())
    directives = [" ".join(line[:2]) for line in sentinel_conf]
    assert directives.index("sentinel resolve-hostnames") < directives.index("sentinel monitor")
    (monitor,) = [line for line in sentinel_conf if line[:2] == ["sentinel", "monitor"]]
    master, host, port, quorum = monitor[2:]
    assert (host, port) == ("redis-primary", "6379")
    assert len(sentinels) // 2 < int(quorum) <= len(sentinels), "a majority decides"

    password_file = tmp_path / "redis-password"
    password_file.write_text("Zx8v1Qe2Lk9Pw3Rt-redis\n")
    for name, service in replicas.items():
        env = service_environment(service)
        url = parse_redis_url(env["OBJMGR_STORE"])
        assert url.scheme == "redis+sentinel://" and url.master == master, name
        assert sorted(url.nodes) == [(sentinel, 26379) for sentinel in sentinels], name
        assert env["OBJMGR_REDIS_MIN_REPLICAS"] == "1", name
        assert "OBJMGR_REDIS_PASSWORD" not in env and service["secrets"] == ["redis_password"]
        assert env["OBJMGR_REDIS_PASSWORD_FILE"] == "/run/secrets/redis_password", name
        assert {s: c["condition"] for s, c in service["depends_on"].items()} == dict.fromkeys(
            sentinels, "service_healthy"
        )
        assert service["env_file"] == ["objmgr.env"] and service["read_only"] is True
        served = Settings.from_env(
            {**env, "OBJMGR_REDIS_PASSWORD_FILE": str(password_file), "OBJMGR_AUTH": "disabled"}
        )
        assert served.redis_options.min_replicas == 1
        assert served.redis_options.password == "Zx8v1Qe2Lk9Pw3Rt-redis"


def test_sentinel_start_scripts_serve_the_store_on_loopback(tmp_path: Path) -> None:
    """deploy/sentinel's scripts and files as the containers run them, on free loopback
    ports: a primary, its replica and a sentinel, and the store on redis+sentinel://
    with the password and one replica to wait for."""
    password = "Zx8v1Qe2Lk9Pw3Rt-redis"
    (tmp_path / "redis-password").write_text(f"{password}\n")
    ports = {"primary": free_port(), "replica": free_port(), "sentinel": free_port()}
    base = {
        "PATH": os.environ["PATH"],
        "OBJMGR_REDIS_CONF_DIR": str(SENTINEL_DIR),
        "OBJMGR_REDIS_PASSWORD_FILE": str(tmp_path / "redis-password"),
    }
    started: list[subprocess.Popen[bytes]] = []

    def start(script: str, name: str, prefix: str, **env: str) -> Path:
        data = tmp_path / name
        data.mkdir()
        own = {f"{prefix}_DATA": str(data), f"{prefix}_PORT": str(ports[name])}
        own |= {f"{prefix}_BIND": "127.0.0.1", f"{prefix}_ANNOUNCE": "127.0.0.1"}
        argv = ["sh", str(SENTINEL_DIR / script)]
        started.append(spawn(argv, data, {**base, **own, **env}, tmp_path / f"{name}.log"))
        return data

    def node(name: str, **kwargs: Any) -> redis.Redis:
        return redis.Redis(port=ports[name], socket_timeout=1, **kwargs)

    def answers(client: redis.Redis, command: str, *args: str) -> Any:
        try:
            return client.execute_command(command, *args)
        except redis.ConnectionError:
            return None

    store = None
    try:
        start("start-redis.sh", "primary", "OBJMGR_REDIS")
        primary = node("primary", password=password)
        wait_until(lambda: answers(primary, "PING"), 15, "the primary")
        replica_of = f"127.0.0.1 {ports['primary']}"
        start("start-redis.sh", "replica", "OBJMGR_REDIS", OBJMGR_REDIS_REPLICA_OF=replica_of)
        wait_until(
            lambda: primary.info("replication").get("slave0", {}).get("state") == "online",
            15,
            "the replica to follow the primary",
        )
        start(
            "start-sentinel.sh", "sentinel", "OBJMGR_SENTINEL", OBJMGR_SENTINEL_MONITOR=replica_of
        )
        sentinel = node("sentinel")
        wait_until(lambda: answers(sentinel, "SENTINEL", "REPLICAS", "objmgr"), 15, "the sentinel")
        store = RedisStore(
            f"redis+sentinel://127.0.0.1:{ports['sentinel']}/objmgr/0",
            default_pool=("default", 2),
            # A loaded machine may take a while to confirm: the replica's ack is awaited.
            socket_timeout=10.0,
            options=RedisOptions(password=password, min_replicas=1),
        )
        store.open()
        lease = store.acquire(AcquireRequest("default", owner="deploy"))
        assert store.lease("default", lease.obj) == lease
        assert node("replica", password=password).dbsize() > 0, "the replica confirmed it"
        with pytest.raises(redis.AuthenticationError):
            node("primary", password="not-" + password).ping()
        for process in started:
            cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes()
            assert b"redis-server" in cmdline and password.encode() not in cmdline
    finally:
        if store is not None:
            store.close()
        for process in reversed(started):
            stop_group(process, signal.SIGTERM)
    for name, conf in [("primary", "redis.conf"), ("sentinel", "sentinel.conf")]:
        mode = (tmp_path / name / conf).stat().st_mode
        assert mode & 0o077 == 0, f"{conf} holds the password: its owner's alone"
