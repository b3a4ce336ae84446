"""Readers for the deploy files, as the tools that consume them read them.

Docker, systemd and Compose are not available to the tests, so the files are
parsed here and the commands they name are run on the host with their paths
mapped (see `tests/live/test_deploy.py`).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_DEV = ROOT / "docker-compose.dev.yml"
COMPOSE_PROD = ROOT / "docker-compose.prod.yml"
COMPOSE_SENTINEL = ROOT / "docker-compose.sentinel.yml"
SENTINEL_DIR = ROOT / "deploy" / "sentinel"
UNIT = ROOT / "deploy" / "objmgr.service"
INSTALL = ROOT / "deploy" / "install.sh"
ENV_EXAMPLE = ROOT / "deploy" / "objmgr.env.example"
COLLECTION = ROOT / "deploy" / "objmgr.postman_collection.json"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "objmgr.json"

VENV = ROOT / ".venv"


# Dockerfile ---------------------------------------------------------------
@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    stage: int

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction, None for the shell form."""
        return json.loads(self.args) if self.args.startswith("[") else None


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined; comment lines dropped, as Docker does."""
    instructions: list[Instruction] = []
    stage = -1
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical = (pending + stripped).strip()
        pending = ""
        if not logical:
            continue
        keyword, _, args = logical.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            stage += 1
        instructions.append(Instruction(keyword, re.sub(r"\s+", " ", args).strip(), stage))
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


def dockerfile() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    last = max(instruction.stage for instruction in instructions)
    return [instruction for instruction in instructions if instruction.stage == last]


def image_env(instructions: list[Instruction], path: str = "") -> dict[str, str]:
    """The ENV of the final stage, `$PATH` expanded against `path`."""
    env: dict[str, str] = {}
    for instruction in final_stage(instructions):
        if instruction.keyword != "ENV":
            continue
        for word in shlex.split(instruction.args):
            name, sep, value = word.partition("=")
            assert sep, f"ENV {word!r} is not NAME=value"
            env[name] = value.replace("$PATH", path).replace("${PATH}", path)
    return env


def healthcheck_command(instructions: list[Instruction]) -> tuple[list[str], list[str]]:
    """(options, command) of the final stage's HEALTHCHECK."""
    (check,) = [i for i in final_stage(instructions) if i.keyword == "HEALTHCHECK"]
    options, sep, command = check.args.partition("CMD ")
    assert sep, f"HEALTHCHECK without CMD: {check.args}"
    form = json.loads(command)
    return options.split(), form


# systemd unit ---------------------------------------------------------------
Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """Sections of keys, each key with every value it was given (Environment= repeats)."""
    unit: Unit = {}
    section: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{line!r} comes before any section"
        key, sep, value = line.partition("=")
        assert sep, f"{line!r} is not Key=value"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def unit() -> Unit:
    return parse_unit(UNIT.read_text())


def unit_environment(parsed: Unit) -> dict[str, str]:
    env: dict[str, str] = {}
    for value in parsed["Service"].get("Environment", []):
        for word in shlex.split(value):
            name, _, setting = word.partition("=")
            env[name] = setting
    return env


# env files and compose ------------------------------------------------------
def parse_env_file(text: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"{line!r} is not NAME=value"
        env[name.strip()] = value.strip()
    return env


def compose(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict)
    return loaded


def service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {str(name): str(value) for name, value in environment.items()}


def mapped(word: str, mapping: Mapping[str, str | Path]) -> str:
    """`word` with every path prefix in `mapping` replaced (longest prefix first)."""
    for prefix in sorted(mapping, key=len, reverse=True):
        word = word.replace(prefix, str(mapping[prefix]))
    return word


# Prometheus and Grafana ------------------------------------------------------
def promtool(
    *args: str | Path, cwd: Path = ROOT, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`promtool args...`, its output captured; an AssertionError naming the way to get it
    when it is not installed, so that a machine without it fails rather than skips."""
    binary = shutil.which("promtool")
    assert binary is not None, (
        "promtool is not installed: `make system-deps` installs it (Debian's prometheus package)"
    )
    return subprocess.run(
        [binary, *map(str, args)],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# What a PromQL expression names that is neither a metric nor a label's value.
_PROMQL_WORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless"}
    | {"bool", "offset", "inf", "nan"}
)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: label matchers, strings, ranges and the
    label lists of by/on/... taken out, then every name not called as a function."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)\b(?!\s*\()", text):
        if match.group(1).lower() not in _PROMQL_WORDS:
            names.add(match.group(1))
    return names


def dashboard_panels(document: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside rows included."""
    for panel in document.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def grafana_to_promql(expr: str) -> str:
    """A dashboard's expression with Grafana's variables given values Prometheus takes."""
    for interval in ("$__rate_interval", "$__interval", "$__range"):
        expr = expr.replace(interval, "5m")
    return re.sub(r"\$\{?\w+\}?", ".*", expr)


def objmgr_replicas(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services of a compose file that run objmgr: those given an OBJMGR_STORE."""
    return {
        name: service
        for name, service in document["services"].items()
        if "OBJMGR_STORE" in service_environment(service)
    }


def parse_redis_conf(text: str) -> list[list[str]]:
    """A redis.conf or sentinel.conf as Redis reads it: one directive and its words a line."""
    return [
        shlex.split(line)
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def check_paths(path: Path, services: dict[str, Any]) -> None:
    """Every build context, Dockerfile and bind-mounted source exists."""
    for name, service in services.items():
        build = service.get("build")
        if build is not None:
            context = path.parent / (build if isinstance(build, str) else build["context"])
            assert context.is_dir(), f"{name}: build context {context} does not exist"
            dockerfile_name = "Dockerfile" if isinstance(build, str) else build["dockerfile"]
            assert (context / dockerfile_name).is_file(), f"{name}: no {dockerfile_name}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (path.parent / source).exists(), f"{name}: {source} does not exist"


def named_volumes(document: dict[str, Any], service: dict[str, Any]) -> list[str]:
    names = [v.split(":")[0] for v in service.get("volumes", [])]
    named = [n for n in names if not n.startswith((".", "/"))]
    for name in named:
        assert name in (document.get("volumes") or {}), f"volume {name} is not declared"
    return named
