"""The container and collection files, read the way Docker, Compose and Postman read them.

The host's files (the systemd unit, install.sh) are checked in tests/test_deploy_host.py;
the commands the files start are run in tests/live/test_deploy.py.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

from graphql import parse, validate

from app.api.schema import schema

from .deploy_files import (
    COLLECTION,
    COMPOSE_DEV,
    COMPOSE_PROD,
    DOCKERIGNORE,
    ENV_EXAMPLE,
    ROOT,
    check_paths,
    compose,
    dockerfile,
    final_stage,
    healthcheck_command,
    image_env,
    named_volumes,
    objmgr_replicas,
    parse_env_file,
    service_environment,
)

STATE_DIR = "/var/lib/objmgr"


# Dockerfile ---------------------------------------------------------------
def test_dockerfile_is_multi_stage_on_python_slim() -> None:
    instructions = dockerfile()
    froms = [i.args for i in instructions if i.keyword == "FROM"]
    assert len(froms) >= 2, "a build stage and a small final stage"
    assert all(args.split()[0] == "python:3.11-slim" for args in froms), froms
    build_name = froms[0].split()[-1]
    assert froms[0].lower().split()[-2] == "as"
    final = final_stage(instructions)
    copies_from_build = [
        i for i in final if i.keyword == "COPY" and i.args.startswith(f"--from={build_name} ")
    ]
    assert any("/opt/objmgr/venv" in i.args for i in copies_from_build), "the venv comes built"
    # Nothing is compiled or downloaded in the final stage.
    assert not [i for i in final if i.keyword == "RUN" and "pip" in i.args]


def test_dockerfile_runs_gunicorn_as_a_non_root_user() -> None:
    final = final_stage(dockerfile())
    users = [i.args for i in final if i.keyword == "USER"]
    assert users, "the final stage sets USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    (cmd,) = [i for i in final if i.keyword == "CMD"]
    command = cmd.exec_form()
    assert command is not None, "CMD in exec form, so that gunicorn is PID 1 and gets SIGTERM"
    assert Path(command[0]).name == "gunicorn" and command[0].startswith("/opt/objmgr/venv/")
    config = command[command.index("--config") + 1]
    assert config == "/opt/objmgr/deploy/gunicorn.conf.py"
    assert command[-1] == "app:create_app()"
    assert any(
        i.keyword == "COPY" and i.args.split()[-1] == config and "deploy/gunicorn.conf.py" in i.args
        for i in final
    ), "the config file CMD names is copied to where it names it"
    assert not [i for i in final if i.keyword == "ENTRYPOINT"], "CMD alone: easy to override"


def test_dockerfile_environment_volume_port_and_healthcheck() -> None:
    instructions = dockerfile()
    final = final_stage(instructions)
    env = image_env(instructions)
    assert env["OBJMGR_BIND"] == "0.0.0.0:5000"
    assert env["OBJMGR_STORE"] == f"sqlite:///{STATE_DIR}/objmgr.sqlite3"
    assert env["OBJMGR_ENV"] == "production"
    (volume,) = [i for i in final if i.keyword == "VOLUME"]
    assert json.loads(volume.args) == [STATE_DIR]
    assert [i.args for i in final if i.keyword == "EXPOSE"] == ["5000"]
    options, command = healthcheck_command(instructions)
    assert command[:2] == ["python", "-c"], "curl is not in the slim image"
    assert "urllib" in command[2] and "/healthz" in command[2]
    assert any(option.startswith("--interval=") for option in options)
    # The volume's directory exists and belongs to the user before VOLUME freezes it.
    run_before_volume = [i.args for i in final[: final.index(volume)] if i.keyword == "RUN"]
    assert any(f"chown objmgr:objmgr {STATE_DIR}" in args for args in run_before_volume)


def test_dockerfile_installs_the_server_and_its_client() -> None:
    build = [i for i in dockerfile() if i.stage == 0]
    installs = [n for n, i in enumerate(build) if i.keyword == "RUN" and "pip install " in i.args]
    requirements, packages = (build[n].args for n in installs)
    # objmgr-client is on no index: the dependencies' layer leaves it to the copy.
    listing, _, install = requirements.partition(" > /tmp/requirements.txt")
    assert install.startswith(" && /opt/objmgr/venv/bin/pip install -r /tmp/requirements.txt")
    argv = shlex.split(listing)
    assert argv[0] == "python"
    listed = subprocess.run(
        [sys.executable, *argv[1:]], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert listed == [d for d in dependencies if not d.startswith("objmgr-client==")]
    # Then both packages in one pip install, which checks the server's pin on the client.
    words = packages.split()
    assert words[words.index("install") + 1 :][:2] == ["./clients/python", "."]
    copies = {build[n].args.split()[0]: n for n in range(len(build)) if build[n].keyword == "COPY"}
    assert copies["clients/python"] < installs[1] and copies["app"] < installs[1]
    assert "pip check" in packages and "import objmgr_client" in packages


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (no ! exceptions used)."""
    parts = Path(path).parts
    return any(
        fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(part, pattern)
        for pattern in patterns
        for part in parts
    )


def test_dockerfile_copies_what_exists_and_dockerignore_keeps_it() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not [p for p in patterns if p.startswith("!")], "the _ignored check knows no '!'"
    for instruction in dockerfile():
        if instruction.keyword != "COPY" or instruction.args.startswith("--from="):
            continue
        *sources, _target = instruction.args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
            assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"
    for kept_out in (".venv", ".git", "objmgr.env", "var/objmgr.sqlite3", "tests", ".tools"):
        assert _ignored(kept_out, patterns), f"{kept_out} would be sent to the build"
    # The GraphiQL assets travel inside app/ and its package data.
    assert not _ignored("app/api/static/graphiql/graphiql.min.js", patterns)
    # So do the dashboard's.
    assert not _ignored("app/dashboard/static/dashboard.html", patterns)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"api/static/graphiql/*"' in pyproject and '"api/templates/*.html"' in pyproject
    assert '"dashboard/static/*"' in pyproject


# Compose --------------------------------------------------------------------
def test_dev_compose_one_service_on_sqlite_with_reload() -> None:
    document = compose(COMPOSE_DEV)
    services = document["services"]
    assert len(services) == 1
    check_paths(COMPOSE_DEV, services)
    (service,) = services.values()
    env = service_environment(service)
    assert env["OBJMGR_ENV"] == "development", "GraphiQL on"
    assert env["OBJMGR_STORE"].startswith("sqlite:///")
    command = service["command"]
    assert "--reload" in command
    assert Path(command[0]).name == "gunicorn" and command[-1] == "app:create_app()"
    config = command[command.index("--config") + 1]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
    # The config and the code gunicorn reloads come from the mounted source.
    source_root = env["PYTHONPATH"]
    assert mounts[f"{source_root}/app"] == "./app"
    assert mounts[f"{source_root}/deploy"] == "./deploy"
    config_file = ROOT / "deploy" / Path(config).relative_to(f"{source_root}/deploy")
    # The production settings, plus workers that re-import the code --reload saw change.
    assert "from app.gunicorn_conf import *" in config_file.read_text()
    assert "def post_fork(" in config_file.read_text()
    store_dir = env["OBJMGR_STORE"].removeprefix("sqlite:///").rsplit("/", 1)[0]
    assert store_dir in mounts and named_volumes(document, service) == [mounts[store_dir]]
    assert all(port.startswith("127.0.0.1:") for port in service["ports"]), "auth is off"


def test_prod_compose_replicas_on_redis() -> None:
    document = compose(COMPOSE_PROD)
    services = document["services"]
    check_paths(COMPOSE_PROD, services)
    redis = services["redis"]
    command = redis["command"]
    flags = dict(zip(command[1::2], command[2::2], strict=False))
    assert command[0] == "redis-server"
    assert flags["--appendonly"] == "yes" and flags["--appendfsync"] == "always"
    assert flags["--maxmemory-policy"] == "noeviction"
    assert "redis-cli" in redis["healthcheck"]["test"] and "ping" in redis["healthcheck"]["test"]
    (data,) = named_volumes(document, redis)
    assert f"{data}:{flags['--dir']}" in redis["volumes"]
    assert redis.get("restart") in ("always", "unless-stopped")
    assert "ports" not in redis, "Redis is reached by the replicas only"

    replicas = objmgr_replicas(document)
    assert set(services) == {"redis", "prometheus", *replicas}, "Prometheus: test_operators_files"
    assert len(replicas) >= 2
    host_ports = set()
    for name, service in replicas.items():
        env = service_environment(service)
        assert env["OBJMGR_ENV"] == "production", name
        assert env["OBJMGR_STORE"].startswith("redis://redis:"), name
        assert "OBJMGR_TOKENS" not in env, f"{name}: tokens belong in the env file"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["restart"] in ("always", "unless-stopped", "on-failure")
        (env_file,) = service["env_file"]
        assert (COMPOSE_PROD.parent / env_file).resolve() == (ROOT / "objmgr.env").resolve()
        host_ports.update(port.split(":")[0] for port in service["ports"])
    assert len(host_ports) == len(replicas), "one host port per replica"
    # The env file is the operator's: an example ships, the real one is never committed
    # nor sent into an image.
    example = parse_env_file(ENV_EXAMPLE.read_text())
    assert example["OBJMGR_TOKENS"] and example["OBJMGR_ADMINS"]
    assert "/objmgr.env" in (ROOT / ".gitignore").read_text().splitlines()
    assert "objmgr.env" in DOCKERIGNORE.read_text().splitlines()


# Postman ------------------------------------------------------------------
def _requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat = []
    for item in items:
        flat.extend(_requests(item["item"]) if "item" in item else [item])
    return flat


def test_postman_collection_covers_the_contract_and_validates() -> None:
    collection = json.loads(COLLECTION.read_text())
    assert collection["info"]["schema"] == (
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    )
    assert collection["auth"] == {
        "type": "bearer",
        "bearer": [{"key": "token", "value": "{{token}}", "type": "string"}],
    }
    variables = {v["key"] for v in collection["variable"]}
    assert {"baseUrl", "token"} <= variables
    requests = _requests(collection["item"])
    used_fields: set[str] = set()
    paths = set()
    graphql_schema = schema.graphql_schema
    for request in requests:
        spec = request["request"]
        paths.add(spec["url"]["raw"])
        assert spec["url"]["raw"].startswith("{{baseUrl}}/")
        scripts = [e for e in request.get("event", []) if e["listen"] == "test"]
        assert scripts and any("pm.test(" in line for line in scripts[0]["script"]["exec"])
        if spec["method"] == "GET":
            continue
        body = spec["body"]
        assert body["mode"] == "graphql"
        document = parse(body["graphql"]["query"])
        errors = validate(graphql_schema, document)
        assert not errors, f"{request['name']}: {errors}"
        for definition in document.definitions:
            used_fields.update(
                selection.name.value for selection in definition.selection_set.selections
            )
        # Every variable the document declares comes in the request's variables.
        declared = re.findall(r"\$(\w+)\s*:", body["graphql"]["query"])
        text = body["graphql"].get("variables") or "{}"
        given = json.loads(re.sub(r"\{\{\w+\}\}", "1", text))
        assert set(given) <= set(declared), request["name"]
    contract = set(graphql_schema.query_type.fields) | set(graphql_schema.mutation_type.fields)
    assert contract <= used_fields, f"not in the collection: {contract - used_fields}"
    assert {"{{baseUrl}}/healthz", "{{baseUrl}}/readyz", "{{baseUrl}}/version"} <= paths
