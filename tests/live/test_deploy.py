"""The commands the deploy files start, run on this host with their paths mapped.

There is no Docker engine and no booted systemd here, so each file's command
runs as the container or the unit would run it: the same argv, the image's or
the unit's environment, its working directory, with /opt/objmgr/venv mapped to
this checkout's venv and the state directory to a temporary one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from ..deploy_files import (
    COMPOSE_DEV,
    COMPOSE_PROD,
    ENV_EXAMPLE,
    ROOT,
    VENV,
    compose,
    dockerfile,
    final_stage,
    healthcheck_command,
    image_env,
    mapped,
    objmgr_replicas,
    parse_env_file,
    service_environment,
    unit,
    unit_environment,
)
from .conftest import ServerFactory
from .deploy_support import CommandServer, clean_environment
from .support import _die_with_parent, free_port, poll_until

pytestmark = pytest.mark.live

EXAMPLE = parse_env_file(ENV_EXAMPLE.read_text())
# The example with a secret of the operator's own in it, made as its comments say.
ADMIN_SECRET = secrets.token_urlsafe(32)
OPERATOR = {**EXAMPLE, "OBJMGR_TOKENS": f"admin:{ADMIN_SECRET}"}
ACQUIRE = "mutation { acquireObject { success code lease { obj token } } }"


@pytest.fixture
def commands() -> Iterator[list[CommandServer]]:
    started: list[CommandServer] = []
    yield started
    for server in started:
        server.kill()


def _post(url: str, query: str, secret: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    return requests.post(f"{url}/graphql", json={"query": query}, headers=headers, timeout=30)


def test_unit_execstart_serves_and_tells_systemd_it_is_ready(
    tmp_path: Path, commands: list[CommandServer]
) -> None:
    parsed = unit()
    service = {key: values[-1] for key, values in parsed["Service"].items()}
    state = tmp_path / "state"  # StateDirectory=, which systemd creates
    state.mkdir()
    paths = {
        "/opt/objmgr/venv": VENV,
        "/opt/objmgr/deploy": ROOT / "deploy",
        "/var/lib/objmgr": state,
    }
    argv = [mapped(word, paths) for word in shlex.split(service["ExecStart"])]
    env = clean_environment()
    env.update({name: mapped(value, paths) for name, value in unit_environment(parsed).items()})
    # EnvironmentFile= is read after Environment= and wins, as in systemd.
    env.update(EXAMPLE)
    port = free_port()
    assert env["OBJMGR_BIND"] == "127.0.0.1:5000", "the unit serves loopback; a proxy faces out"
    env["OBJMGR_BIND"] = f"127.0.0.1:{port}"
    workdir = Path(mapped(service["WorkingDirectory"], paths))
    # The example copied as it is: its placeholder secret is refused, the variable named.
    copied = CommandServer(argv, env, workdir, tmp_path / "copied")
    commands.append(copied)
    copied.start()
    assert copied.wait() == 2
    assert "OBJMGR_TOKENS" in copied.output() and "placeholder" in copied.output()
    env.update(OPERATOR)
    # Type=notify: gunicorn must say READY=1 on $NOTIFY_SOCKET, or systemd would time out.
    notify_dir = Path(tempfile.mkdtemp(prefix="objmgr-notify-"))
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_dir / "notify"))
    notify.settimeout(15)
    env["NOTIFY_SOCKET"] = str(notify_dir / "notify")
    url = f"http://127.0.0.1:{port}"
    server = CommandServer(argv, env, workdir, tmp_path / "logs")
    commands.append(server)
    try:
        server.serve(url)
        assert b"READY=1" in notify.recv(4096)
    finally:
        notify.close()
        shutil.rmtree(notify_dir, ignore_errors=True)

    assert requests.get(f"{url}/healthz", timeout=30).json() == {"status": "ok"}
    assert _post(url, ACQUIRE).status_code == 401, "production: auth on"
    granted = _post(url, ACQUIRE, ADMIN_SECRET).json()["data"]["acquireObject"]
    assert granted["success"] and granted["lease"]["obj"] == 1
    assert (state / "objmgr.sqlite3").is_file(), "the SQLite file is in the state directory"
    # systemctl stop with KillMode=mixed: SIGTERM to gunicorn, well within TimeoutStopSec.
    stop_timeout = float(service["TimeoutStopSec"].rstrip("s"))
    assert server.terminate(timeout=stop_timeout) == 0, server.output()


def _image_run(tmp_path: Path) -> tuple[dict[str, str], dict[str, str | Path], Path]:
    """The image's environment and path mapping, as `docker run -v volume:...` would have it."""
    volume = tmp_path / "volume"
    volume.mkdir()
    paths: dict[str, str | Path] = {
        "/opt/objmgr/venv": VENV,
        "/opt/objmgr/deploy": ROOT / "deploy",
        "/var/lib/objmgr": volume,
    }
    env = clean_environment()
    instructions = dockerfile()
    env.update(
        {
            name: mapped(value, paths)
            for name, value in image_env(instructions, os.environ.get("PATH", "")).items()
        }
    )
    return env, paths, volume


def test_image_command_serves_and_its_healthcheck_passes(
    tmp_path: Path, commands: list[CommandServer]
) -> None:
    instructions = dockerfile()
    final = final_stage(instructions)
    (cmd,) = [i.exec_form() for i in final if i.keyword == "CMD"]
    assert cmd is not None
    (workdir,) = [i.args for i in final if i.keyword == "WORKDIR"]
    env, paths, volume = _image_run(tmp_path)
    argv = [mapped(word, paths) for word in cmd]
    cwd = Path(mapped(workdir, paths))
    port = free_port()
    # Loopback instead of the image's 0.0.0.0: the test needs no other interface.
    assert env["OBJMGR_BIND"] == "0.0.0.0:5000"
    env["OBJMGR_BIND"] = f"127.0.0.1:{port}"

    # `docker run objmgr` with no tokens: production refuses, naming the variable.
    bare = CommandServer(argv, env, cwd, tmp_path / "bare")
    commands.append(bare)
    bare.start()
    assert bare.wait() == 2
    assert "OBJMGR_TOKENS" in bare.output()

    # `docker run -e OBJMGR_TOKENS=admin:... objmgr`
    env["OBJMGR_TOKENS"] = f"admin:{ADMIN_SECRET}"
    env["OBJMGR_ADMINS"] = "admin"
    url = f"http://127.0.0.1:{port}"
    server = CommandServer(argv, env, cwd, tmp_path / "logs")
    commands.append(server)
    server.serve(url)
    granted = _post(url, ACQUIRE, ADMIN_SECRET).json()["data"]["acquireObject"]
    assert granted["success"]
    assert (volume / "objmgr.sqlite3").is_file(), "the SQLite file is on the volume"
    page = requests.get(f"{url}/graphql", headers={"Accept": "text/html"}, timeout=30)
    assert "graphiql" not in page.text.lower(), "no GraphiQL in production"

    _options, check = healthcheck_command(instructions)
    healthcheck = subprocess.run(check, env=env, capture_output=True, text=True, timeout=30)
    assert healthcheck.returncode == 0, healthcheck.stderr

    assert server.terminate() == 0, server.output()
    unhealthy = subprocess.run(check, env=env, capture_output=True, text=True, timeout=30)
    assert unhealthy.returncode != 0, "the health check notices a server that is gone"


def test_dev_compose_command_serves_graphiql_and_reloads_edited_code(
    tmp_path: Path, commands: list[CommandServer]
) -> None:
    (service,) = compose(COMPOSE_DEV)["services"].values()
    source = tmp_path / "src"  # the mounted checkout, a copy the test may edit
    ignore = shutil.ignore_patterns("__pycache__")
    for mount in service["volumes"]:
        host, target = mount.split(":")[:2]
        if host.startswith("."):
            shutil.copytree(ROOT / host, source / Path(target).relative_to("/src"), ignore=ignore)
    data = tmp_path / "data"
    data.mkdir()
    paths = {"/src": source, "/var/lib/objmgr": data, "/opt/objmgr/venv": VENV}
    env = clean_environment()
    env.update({name: mapped(value, paths) for name, value in service_environment(service).items()})
    port = free_port()
    env["OBJMGR_BIND"] = f"127.0.0.1:{port}"
    url = f"http://127.0.0.1:{port}"
    argv = [mapped(word, paths) for word in service["command"]]
    server = CommandServer(
        argv, env, Path(mapped(service["working_dir"], paths)), tmp_path / "logs"
    )
    commands.append(server)
    server.serve(url)

    page = requests.get(f"{url}/graphql", headers={"Accept": "text/html"}, timeout=30)
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    asset = requests.get(f"{url}/graphql/static/graphiql/graphiql.min.js", timeout=30)
    assert asset.status_code == 200, "the playground's assets are served locally"
    dashboard = requests.get(f"{url}/dashboard", timeout=30)
    assert dashboard.status_code == 200 and "text/html" in dashboard.headers["Content-Type"]
    script = requests.get(f"{url}/dashboard/static/main.js", timeout=30)
    assert script.status_code == 200, "the dashboard's own files are served"
    assert requests.get(f"{url}/version", timeout=30).json() == {"version": "1.0.0"}
    assert _post(url, ACQUIRE).json()["data"]["acquireObject"]["success"], "auth off"
    assert list(data.glob("objmgr.sqlite3")), "the SQLite file is on the named volume"

    (source / "app" / "version.py").write_text('__version__ = "1.0.0+edited"\n')

    def reloaded() -> bool:
        with contextlib.suppress(requests.RequestException):
            answer = requests.get(f"{url}/version", timeout=2).json()
            return bool(answer == {"version": "1.0.0+edited"})
        return False

    assert poll_until(reloaded, 30), f"the edit was not picked up:\n{server.output()}"


@pytest.fixture
def compose_redis(tmp_path: Path) -> Iterator[tuple[int, list[str]]]:
    """redis-server with the prod compose file's command, on a free loopback port."""
    (executable, *arguments) = compose(COMPOSE_PROD)["services"]["redis"]["command"]
    found = shutil.which(executable)
    if found is None:
        pytest.skip("redis-server is not installed (make system-deps)")
    data = tmp_path / "redis-data"
    data.mkdir()
    port = free_port()
    arguments = [mapped(word, {"/data": data}) for word in arguments]
    # Compose's network keeps Redis private; here loopback and a free port do.
    argv = [found, *arguments, "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no"]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=data,
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)

        def pong() -> bool:
            with contextlib.suppress(redis.RedisError):
                return bool(client.ping())
            return False

        assert poll_until(pong, 15), "redis-server did not start with the compose command"
        client.close()
        yield port, arguments
    finally:
        process.kill()
        process.wait(timeout=10)


def test_prod_compose_redis_and_replicas_share_one_pool(
    compose_redis: tuple[int, list[str]], live_servers: ServerFactory
) -> None:
    port, _arguments = compose_redis
    document = compose(COMPOSE_PROD)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5, decode_responses=True)
    assert client.config_get("appendonly") == {"appendonly": "yes"}
    assert client.config_get("appendfsync") == {"appendfsync": "always"}
    assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
    client.close()
    test = document["services"]["redis"]["healthcheck"]["test"]
    if shutil.which(test[1]) is not None:
        probe = subprocess.run(
            [test[1], "-p", str(port), *test[2:]], capture_output=True, text=True, timeout=10
        )
        assert probe.returncode == 0 and probe.stdout.strip() == "PONG"

    replicas = objmgr_replicas(document)
    urls = []
    for service in replicas.values():
        env = {**service_environment(service), **OPERATOR}
        env["OBJMGR_STORE"] = env["OBJMGR_STORE"].replace("redis:6379", f"127.0.0.1:{port}")
        server = live_servers()
        env["OBJMGR_BIND"] = f"127.0.0.1:{server.port}"
        urls.append(server.start(env))

    grants = []
    for url in urls:
        assert _post(url, ACQUIRE).status_code == 401
        answer = _post(url, ACQUIRE, ADMIN_SECRET).json()["data"]["acquireObject"]
        assert answer["success"], answer
        grants.append((answer["lease"]["obj"], answer["lease"]["token"]))
    assert [obj for obj, _ in grants] == list(range(1, len(urls) + 1)), "one pool, not one each"
    assert [token for _, token in grants] == sorted(token for _, token in grants)
    # Freed through one replica, free for all of them.
    obj, token = grants[0]
    freed = _post(urls[-1], f"mutation {{ freeObject(obj: {obj}, token: {token}) {{ success }} }}")
    assert freed.status_code == 401
    freed = _post(
        urls[-1],
        f"mutation {{ freeObject(obj: {obj}, token: {token}) {{ success }} }}",
        ADMIN_SECRET,
    )
    assert freed.json()["data"]["freeObject"]["success"]
    lease = _post(urls[1], f"{{ lease(obj: {obj}) {{ obj }} }}", ADMIN_SECRET).json()["data"]
    assert lease == {"lease": None}
    page = requests.get(f"{urls[0]}/graphql", headers={"Accept": "text/html"}, timeout=30)
    assert "graphiql" not in page.text.lower(), "no GraphiQL in production"


def test_sqlite_backup_commands_keep_every_lease(live_servers: ServerFactory) -> None:
    """The README's backup commands, run while the server writes, restore what it granted."""
    origin = live_servers()
    url = origin.start()
    client = origin.client()
    granted = [client.acquire(ttl=3600)["lease"] for _ in range(3)]
    database = origin.database
    backups = {"python": database.with_name("python.sqlite3")}
    with (
        contextlib.closing(sqlite3.connect(database)) as source,
        contextlib.closing(sqlite3.connect(backups["python"])) as target,
    ):
        source.backup(target)
    if shutil.which("sqlite3") is not None:
        backups["dot-backup"] = database.with_name("dot-backup.sqlite3")
        backups["vacuum-into"] = database.with_name("vacuum-into.sqlite3")
        for command in (
            f".backup '{backups['dot-backup']}'",
            f"VACUUM INTO '{backups['vacuum-into']}'",
        ):
            subprocess.run(["sqlite3", str(database), command], check=True, timeout=30)
    # Granted after the backups: a restore forgets it, as the README says.
    later = client.acquire()["lease"]
    client.close()
    assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
    for name, backup in backups.items():
        restored = live_servers()
        shutil.copy(backup, restored.database)
        restored.start()
        reader = restored.client()
        for lease in granted:
            assert reader.lease(lease["obj"]) == lease, name
        assert reader.lease(later["obj"]) is None, name
        reader.close()
        restored.stop()
