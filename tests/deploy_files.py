"""Readers for the deploy files, as the tools that consume them read them.

Docker, systemd and Compose are not available to the tests, so the files are
parsed here and the commands they name are run on the host with their paths
mapped (see `tests/live/test_deploy.py`).
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_DEV = ROOT / "docker-compose.dev.yml"
COMPOSE_PROD = ROOT / "docker-compose.prod.yml"
UNIT = ROOT / "deploy" / "objmgr.service"
INSTALL = ROOT / "deploy" / "install.sh"
ENV_EXAMPLE = ROOT / "deploy" / "objmgr.env.example"
COLLECTION = ROOT / "deploy" / "objmgr.postman_collection.json"

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
