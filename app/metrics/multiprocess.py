"""The gunicorn master's side of prometheus_client's multiprocess mode.

The master makes a fresh directory before any worker forks and names it in
PROMETHEUS_MULTIPROC_DIR, which the workers inherit; each worker writes its
counters and histograms to files of its own there (named by its pid). The
files of a worker that died stay, so the host's counts keep what it counted;
a respawned worker writes files of its own beside them. The directory goes
when the master exits: counters start again from 0 with the next master, as
Prometheus expects of a restarted process.

This module imports nothing of prometheus_client at import time: the master
loads it with the gunicorn settings, before the variable is set.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def shared_directory() -> str | None:
    """The directory this process's values go to; None outside gunicorn."""
    return os.environ.get(VARIABLE) or None


def make_fresh_directory() -> str:
    """A new, empty directory for this master's workers, named in the environment.

    Always a new one, never a directory given beforehand: files left by an
    earlier server would be added to this one's counts. Refused once
    prometheus_client is imported (an app preloaded in the master): its values
    would stay per process, each worker counting alone.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError(
            "prometheus_client was imported before the gunicorn master set "
            f"{VARIABLE}: do not preload the app (preload_app)"
        )
    directory = tempfile.mkdtemp(prefix="objmgr-metrics-")
    os.environ[VARIABLE] = directory
    return directory


def process_exited(pid: int) -> None:
    """A worker exited: its live gauges go; its counters and histograms stay."""
    directory = shared_directory()
    if directory is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, directory)


def remove_directory() -> None:
    directory = shared_directory()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)
