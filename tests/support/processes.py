"""Processes started by the tests and the benchmarks, watched and stopped by their pid.

Linux only where it reads /proc: the state, parent, group and CPU time of a process.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In a child before exec: SIGKILL it when the process that started it dies.

    A test run or a benchmark killed hard must not leave a server behind; gunicorn
    workers already exit when their master goes.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(
    argv: Sequence[str],
    cwd: Path,
    env: Mapping[str, str],
    stdout: Path,
    stderr: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a server process that dies with its starter, its output in files.

    It leads a process group of its own, so that one `stop_group` reaches every
    worker it forks. Without `stderr`, both streams go to `stdout`.
    """
    with contextlib.ExitStack() as files:
        out = files.enter_context(stdout.open("wb"))
        err: int | object = subprocess.STDOUT
        if stderr is not None:
            err = files.enter_context(stderr.open("wb"))
        return subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,  # type: ignore[arg-type]
            start_new_session=True,
            preexec_fn=die_with_parent if sys.platform == "linux" else None,
        )


def stop_group(
    process: subprocess.Popen[bytes], first: signal.Signals | None = None, timeout: float = 10.0
) -> None:
    """Stop the process group `process` leads: `first` (if any) and up to `timeout` seconds
    for the leader to exit, then SIGKILL for whatever is left of the group, and reap it."""
    if first is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, first)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first), None when gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after its last ')'.
    return text.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    fields = stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """The live children of `pid` (a gunicorn master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = stat_fields(int(entry.name))
            if fields is not None and int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(group: int | None = None, pids: Sequence[int] = ()) -> float | None:
    """User and system CPU time of the processes in process group `group` and of `pids`;
    None where /proc cannot tell.

    The load on a shared machine moves requests/s; CPU time per request moves much less.
    """
    try:
        entries = [entry for entry in Path("/proc").iterdir() if entry.name.isdigit()]
        hertz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    ticks = 0
    for entry in entries:
        pid = int(entry.name)
        if group is None and pid not in pids:
            continue
        fields = stat_fields(pid)
        if fields is None:
            continue  # gone meanwhile
        # After the name: state, ppid, pgrp, ..., utime (14th field of stat), stime (15th).
        if int(fields[2]) == group or pid in pids:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / hertz
