"""Run a command a deploy file names (a unit's ExecStart, an image's CMD) as a server."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..support import gunicorn
from ..support.gunicorn import START_TIMEOUT, STOP_TIMEOUT, wait_until_serving
from ..support.processes import spawn, stop_group


def clean_environment() -> dict[str, str]:
    """The test process's environment without anything that configures objmgr or gunicorn,
    nor a PYTHONPATH: a deploy file's command must find the package by itself."""
    return gunicorn.clean_environment({"PYTHONPATH": None})


class CommandServer:
    """One command in its own process group, its output kept in files."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        logs: Path,
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        # gunicorn's control socket and anything else per-user stays private to the test.
        self.env.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="objmgr-deploy-"))
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        self.process = spawn(
            self.argv, self.cwd, self.env, self.logs / "stdout.log", self.logs / "stderr.log"
        )
        return self.process

    def serve(self, base_url: str) -> None:
        """Start and wait until `base_url`/healthz answers 200."""
        wait_until_serving(self.start(), base_url, self.output)

    def wait(self, timeout: float = START_TIMEOUT) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"still running after {timeout}s:\n{self.output()}") from None

    def terminate(self, timeout: float = 60.0) -> int:
        """SIGTERM to the main process only, as systemd's KillMode=mixed and docker stop do."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.process is None:
            return
        stop_group(self.process, timeout=STOP_TIMEOUT)

    def output(self) -> str:
        out = (self.logs / "stdout.log").read_text(errors="replace")
        err = (self.logs / "stderr.log").read_text(errors="replace")
        return f"--- stdout ---\n{out[-4000:]}\n--- stderr ---\n{err[-4000:]}"
