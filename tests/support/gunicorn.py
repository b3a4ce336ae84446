"""The real server, gunicorn with deploy/gunicorn.conf.py, started from the checkout.

Its settings are OBJMGR_* variables only: nothing from the shell that started the
tests or the benchmark may configure it behind their back.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..conditions import poll_until
from .ports import free_port
from .processes import spawn, stop_group

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "gunicorn.conf.py"
WSGI_APP = "app:create_app()"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class ServerDidNotStart(AssertionError):
    """gunicorn exited, or /healthz never answered, while it was expected to serve."""


def clean_environment(settings: Mapping[str, str | None] = {}) -> dict[str, str]:
    """This process's environment without OBJMGR_* and GUNICORN_*, then `settings`
    (None unsets a variable)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("OBJMGR_", "GUNICORN_"))
    }
    for name, value in (settings or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def gunicorn_argv(wsgi_app: str = WSGI_APP) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "--config", str(CONFIG), wsgi_app]


def healthy(base_url: str) -> bool:
    """Whether `base_url`/healthz answers 200 `{"status": "ok"}` within a second."""
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=1.0) as answer:
            return answer.status == 200 and json.load(answer) == {"status": "ok"}
    except (OSError, ValueError):
        return False


def wait_until_serving(
    process: subprocess.Popen[bytes],
    base_url: str,
    output: Callable[[], str],
    timeout: float = START_TIMEOUT,
) -> None:
    """Return once `base_url`/healthz answers; raise ServerDidNotStart if `process` exits
    first or `timeout` seconds pass."""

    def serving() -> bool:
        if process.poll() is not None:
            raise ServerDidNotStart(
                f"{process.args!r} exited with {process.returncode}:\n{output()}"
            )
        return healthy(base_url)

    if not poll_until(serving, timeout):
        raise ServerDidNotStart(f"{base_url}/healthz never answered:\n{output()}")


def tail(path: Path, characters: int = 4000) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-characters:]
    return "(no output)"


@contextlib.contextmanager
def private_runtime_dir() -> Iterator[Path]:
    """A short directory of its own for gunicorn's control socket.

    By default every gunicorn of the user shares ~/.gunicorn/gunicorn.ctl, and a
    server started here would take it over from whatever else runs on the machine.
    """
    path = Path(tempfile.mkdtemp(prefix="objmgr-run-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@dataclass(frozen=True)
class Gunicorn:
    """A gunicorn master serving on loopback; `group` is its process group."""

    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def group(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def serving(
    settings: Mapping[str, str | None],
    directory: Path,
    name: str = "gunicorn",
    wsgi_app: str = WSGI_APP,
) -> Iterator[Gunicorn]:
    """gunicorn with `settings` on a free loopback port, for as long as the context lasts.

    Its output goes to `directory`/`name`.log. At the end: SIGINT (quick shutdown;
    a graceful one waits for idle keep-alive connections), then SIGKILL to its group.
    """
    port = free_port()
    log = directory / f"{name}.log"
    with private_runtime_dir() as runtime:
        env = clean_environment(
            {
                "OBJMGR_BIND": f"127.0.0.1:{port}",
                "XDG_RUNTIME_DIR": str(runtime),
                "PYTHONUNBUFFERED": "1",
                **settings,
            }
        )
        process = spawn(gunicorn_argv(wsgi_app), ROOT, env, log)
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(process, base_url, lambda: tail(log))
            yield Gunicorn(base_url, port, process, log)
        finally:
            stop_group(process, signal.SIGINT, STOP_TIMEOUT)
