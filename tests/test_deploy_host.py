"""The host deploy files: the systemd unit (systemd-analyze verify for real), gunicorn's limits,
no secret in any deploy file, and install.sh (shellcheck, and a run into a temporary root)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, Settings

from .deploy_files import (
    COMPOSE_PROD,
    ENV_EXAMPLE,
    INSTALL,
    ROOT,
    UNIT,
    VENV,
    compose,
    dockerfile,
    mapped,
    objmgr_replicas,
    parse_env_file,
    service_environment,
    unit,
    unit_environment,
)

STATE_DIR = "/var/lib/objmgr"


# systemd ------------------------------------------------------------------
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "CapabilityBoundingSet": "",
}


def test_unit_runs_the_venv_gunicorn_with_state_and_hardening() -> None:
    parsed = unit()
    service = {key: values[-1] for key, values in parsed["Service"].items()}
    command = shlex.split(service["ExecStart"])
    assert command[0] == "/opt/objmgr/venv/bin/gunicorn", "the executable, not a folder"
    assert command[command.index("--config") + 1] == "/opt/objmgr/deploy/gunicorn.conf.py"
    assert command[-1] == "app:create_app()"
    assert service["EnvironmentFile"] == "/etc/objmgr/objmgr.env"
    assert service.get("DynamicUser") == "yes" or service.get("User") not in (None, "root")
    assert service["Restart"] == "on-failure"
    assert service["StateDirectory"] == "objmgr"
    assert unit_environment(parsed)["OBJMGR_STORE"] == f"sqlite:///{STATE_DIR}/objmgr.sqlite3"
    assert service["WorkingDirectory"] == STATE_DIR
    assert service["Type"] == "notify" and service["NotifyAccess"] == "main"
    assert unit_environment(parsed)["OBJMGR_ENV"] == "production"
    for key, value in HARDENING.items():
        assert service.get(key) == value, f"{key}={service.get(key)!r}, want {value!r}"
    assert parsed["Install"]["WantedBy"] == ["multi-user.target"]
    # Exit 2 is a bad setting: a restart loop would only repeat the message.
    assert "2" in service["RestartPreventExitStatus"].split()
    # systemctl reload: the workers read OBJMGR_TOKENS_FILE again.
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(service["LimitNOFILE"]) >= 65536, "a descriptor per connection"


def test_gunicorn_raises_the_open_files_limit_and_sizes_its_slots_from_it() -> None:
    probe = (
        "import resource\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 1024), hard))\n"
        "import app.gunicorn_conf as conf\n"
        "print(hard, resource.getrlimit(resource.RLIMIT_NOFILE)[0], conf.worker_connections)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OBJMGR_", "GUNICORN_"))}
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    hard, soft, slots = (int(word) for word in result.stdout.split())
    assert soft == hard, "the soft limit is raised to the hard one"
    assert slots == min(65536, hard - 256), "a slot per descriptor, some kept for the rest"


def test_no_deploy_file_carries_a_secret_production_would_serve() -> None:
    # The example is copied as it is more often than it should be: production refuses it.
    example = parse_env_file(ENV_EXAMPLE.read_text())
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_ENV": "production", **example})
    assert raised.value.variable == "OBJMGR_TOKENS" and "placeholder" in str(raised.value)
    assert "secrets.token_urlsafe(32)" in ENV_EXAMPLE.read_text(), "it says how to make one"
    document = compose(COMPOSE_PROD)
    for name, service in objmgr_replicas(document).items():
        assert not any("TOKENS" in variable for variable in service_environment(service)), name
        assert service["ulimits"]["nofile"]["soft"] >= 65536, name
    for instruction in dockerfile():
        assert "OBJMGR_TOKENS" not in instruction.args, "no token in the image"


def _verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        # verify reads no running manager; these keep it off the host's unit dirs.
        env={**os.environ, "SYSTEMD_LOG_COLOR": "0", "SYSTEMD_PAGER": "cat"},
    )


@pytest.fixture
def host_unit(tmp_path: Path) -> Path:
    """The unit with /opt/objmgr mapped to this checkout, so the paths it names exist here."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    text = mapped(
        UNIT.read_text(), {"/opt/objmgr/venv": VENV, "/opt/objmgr/deploy": ROOT / "deploy"}
    )
    path = tmp_path / "objmgr.service"
    path.write_text(text)
    return path


def test_systemd_analyze_verify_passes(host_unit: Path) -> None:
    result = _verify(host_unit)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", f"systemd-analyze warned:\n{result.stderr}"


def test_systemd_analyze_verify_catches_an_execstart_that_names_a_folder(
    host_unit: Path,
) -> None:
    broken = host_unit.read_text().replace(f"{VENV}/bin/gunicorn", f"{VENV}/bin")
    host_unit.write_text(broken)
    result = _verify(host_unit)
    assert result.returncode != 0
    assert "not executable" in result.stderr


# install.sh -----------------------------------------------------------------
def test_install_and_sentinel_scripts_pass_shellcheck() -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (make tools, or apt-get install shellcheck)")
    scripts = [INSTALL, *sorted((INSTALL.parent / "sentinel").glob("*.sh"))]
    assert len(scripts) > 1, "the Sentinel variant's start scripts"
    result = subprocess.run(
        ["shellcheck", "--severity=style", *map(str, scripts)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def _install(destdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DESTDIR": str(destdir),
        # Dependencies are the venv's business, not the layout's: --no-deps keeps
        # the staged install to objmgr itself (seconds, not a minute).
        "OBJMGR_PIP_OPTS": "--no-deps",
    }
    return subprocess.run(
        ["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=300
    )


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under root: (mode, mtime_ns, content digest)."""
    found = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(info.st_mode):
            digest = os.readlink(path)
        else:
            digest = ""
        found[str(path.relative_to(root))] = (info.st_mode, info.st_mtime_ns, digest)
    return found


def test_install_script_dry_run_changes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    result = _install(root, "--dry-run")
    assert result.returncode == 0, result.stderr
    assert list(root.iterdir()) == []
    shown = [line for line in result.stdout.splitlines() if line.startswith("+ ")]
    assert any(" -m venv " in line for line in shown)
    assert any(
        "pip install" in line and f"{ROOT}/clients/python {ROOT}" in line for line in shown
    ), "the server and its client, in one pip install"
    assert any(line.endswith(f"{root}/etc/systemd/system/objmgr.service") for line in shown)


def test_install_script_usage() -> None:
    assert _install(Path("/nonexistent"), "--help").returncode == 0
    wrong = _install(Path("/nonexistent"), "--bogus")
    assert wrong.returncode == 2 and "unknown argument" in wrong.stderr


def test_install_script_stages_into_destdir_and_is_idempotent(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = _install(root)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "skipped systemctl" in first.stdout

    installed_unit = root / "etc/systemd/system/objmgr.service"
    assert installed_unit.read_text() == UNIT.read_text()
    config = root / "opt/objmgr/deploy/gunicorn.conf.py"
    assert config.read_text() == (ROOT / "deploy/gunicorn.conf.py").read_text()
    env_file = root / "etc/objmgr/objmgr.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600, "it holds the tokens"
    settings = parse_env_file(env_file.read_text())
    example = parse_env_file(ENV_EXAMPLE.read_text())
    assert settings["OBJMGR_TOKENS"] != example["OBJMGR_TOKENS"], "a fresh secret"
    assert re.fullmatch(r"admin:[A-Za-z0-9_-]{40,}", settings["OBJMGR_TOKENS"])
    # A real (not editable) install: the GraphiQL assets are package data in the venv.
    venv_python = root / "opt/objmgr/venv/bin/python"
    site = subprocess.run(
        [str(venv_python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    package = Path(site) / "app"
    assert (package / "api/static/graphiql/graphiql.min.js").is_file()
    assert (package / "api/templates/graphiql.html").is_file()
    # The client beside it, a distribution of its own, typed, of the server's version.
    assert (Path(site) / "objmgr_client" / "py.typed").is_file()
    assert not (package / "client.py").exists()
    installed = subprocess.run(
        [str(venv_python), "-m", "pip", "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    versions = {entry["name"]: entry["version"] for entry in json.loads(installed)}
    assert versions["objmgr"] == versions["objmgr-client"]

    before = _snapshot(root)
    env_file.write_text(env_file.read_text() + "OBJMGR_POOL_SIZE=7\n")  # the operator's edit
    edited = _snapshot(root)
    second = _install(root)
    assert second.returncode == 0, second.stdout + second.stderr
    assert _snapshot(root) == edited, "the second run changed files"
    assert before.keys() == edited.keys()
    assert "OBJMGR_POOL_SIZE=7" in env_file.read_text(), "the operator's settings are kept"
    assert all(
        line.split(": ", 1)[1].startswith(("unchanged", "kept", "staged"))
        for line in second.stdout.splitlines()
    ), second.stdout
