"""gunicorn settings from the environment (`deploy/gunicorn.conf.py` loads this).

The settings are checked here, in the master, before any worker forks: a bad
value stops the start with one line naming the variable and exit code 2,
instead of a crash loop of workers.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
from typing import Any

import gevent

from app.config import ConfigError, Settings, set_serving_settings
from app.logs.gunicorn_logger import GunicornLogger
from app.logs.setup import configure_logging
from app.metrics import multiprocess as metrics_files

try:
    _settings = Settings.from_env()
except ConfigError as _error:
    print(f"objmgr: cannot start: {_error}", file=sys.stderr)
    sys.exit(2)
# The master's lines and the workers' share one shape (the workers inherit it).
configure_logging(as_json=_settings.logs_as_json)

# Descriptors a worker keeps for other things than its clients: the listener,
# store connections and files, logs, gunicorn's heartbeat file and pipes.
RESERVED_FILES = 256
# Past this many connections per worker, memory is what runs out first.
MAX_CONNECTIONS = 65_536


def raise_open_files_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit; the limit now.

    Every connection is a descriptor, and the soft limit is often 1024: a
    worker would refuse connections (EMFILE) long before its slots were used.
    Workers inherit the limit from the master, which runs this.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = MAX_CONNECTIONS + RESERVED_FILES if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < wanted:
        # Refused (a container's policy): the limit stays, worker_connections follows it.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
    return MAX_CONNECTIONS + RESERVED_FILES if soft == resource.RLIM_INFINITY else soft


bind = [_settings.bind]
workers = _settings.workers
worker_class = "gevent"
# Slots for as many connections as the worker has descriptors for, so that
# thousands of slow clients or waiting acquires leave room for everyone else;
# a connection beyond them waits in the listen backlog, never fails with EMFILE.
worker_connections = max(1, min(MAX_CONNECTIONS, raise_open_files_limit() - RESERVED_FILES))
# Blocking acquires hold a request open for up to OBJMGR_MAX_WAIT seconds.
timeout = int(max(30, _settings.max_wait + 30))
graceful_timeout = int(max(30, _settings.max_wait + 5))
keepalive = 5
# One access line per request, gunicorn's, in the app's shape (app/logs/gunicorn_logger.py).
accesslog = "-"
errorlog = "-"
loglevel = "info"
logger_class = GunicornLogger
proc_name = "objmgr"
# gunicorn's control socket defaults to one path per user, which a second
# objmgr on the host would take over; nothing here uses it.
control_socket_disable = True
wsgi_app = "app:create_app()"


def nworkers_changed(server: Any, new_value: int, old_value: int | None) -> None:
    """Keep memory:// at one worker when asked for more at run time (SIGTTIN, gunicornc).

    A second worker would have pools of its own and hand out the same objects
    and tokens as the first; the check at start cannot see this later change.
    """
    if _settings.store == "memory://" and new_value > 1:
        server.log.error(
            "objmgr: the memory:// store lives in one process; staying at 1 worker "
            "(use a sqlite:///, redis://, rediss://, redis+cluster:// or "
            "redis+sentinel:// store to run more)"
        )
        server.num_workers = 1


def on_starting(server: Any) -> None:
    # Workers forked from now on serve these settings (see app.config.serving_settings).
    set_serving_settings(_settings)
    # Before any worker forks and imports prometheus_client: every worker counts
    # in this directory, and any worker's scrape sums them all (app.metrics).
    metrics_files.make_fresh_directory()


def child_exit(server: Any, worker: Any) -> None:
    # The dead worker's counts stay in the host's totals; only live gauges go.
    metrics_files.process_exited(worker.pid)


def on_exit(server: Any) -> None:
    metrics_files.remove_directory()


def when_ready(server: Any) -> None:
    """SIGHUP rotates the tokens of OBJMGR_TOKENS_FILE in place.

    gunicorn's own SIGHUP replaces every worker: a memory:// store would lose
    its leases, two generations of workers would serve side by side for a
    while, and a file gone bad would make the new workers fail to boot, which
    stops the whole server. Instead the master checks the file and, when it
    can serve, each worker reads it again and swaps its tokens: no connection,
    waiting acquire or lease is touched. A file that cannot serve is refused
    with one line in the log, and every process keeps the tokens it has.
    """
    server.handle_hup = lambda: _reload_tokens(server)


def _reload_tokens(server: Any) -> None:
    global _settings
    try:
        reloaded = _settings.with_tokens_reloaded()
    except ConfigError as error:
        server.log.error("objmgr: tokens not reloaded, the ones in use stay: %s", error)
        return
    _settings = reloaded
    set_serving_settings(reloaded)
    server.log.info(
        "objmgr: tokens reloaded from %s (%d principals)",
        reloaded.tokens_file,
        len(reloaded.tokens),
    )
    for pid in list(server.WORKERS):
        # A worker that exited meanwhile has a successor with the new settings.
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGHUP)


def post_fork(server: Any, worker: Any) -> None:
    """Keep a SIGHUP that comes while the worker boots, for `post_worker_init`.

    The worker's settings were copied from the master before that reload, so it
    must read the file once it can; and gunicorn resets every signal to its
    default when a worker starts, and SIGHUP's default ends the process.
    """

    def keep(*_: Any) -> None:
        worker.objmgr_reload_missed = True

    signal.signal(signal.SIGHUP, keep)
    init_signals = worker.init_signals

    def init_signals_keeping_hup() -> None:
        init_signals()
        signal.signal(signal.SIGHUP, keep)

    worker.init_signals = init_signals_keeping_hup


def post_worker_init(worker: Any) -> None:
    # Imported here, as in _reload_worker_tokens: the worker's own modules.
    from app.logs.hub_errors import log_hub_errors

    log_hub_errors()
    gevent.signal_handler(signal.SIGHUP, _reload_worker_tokens, worker)
    if getattr(worker, "objmgr_reload_missed", False):
        _reload_worker_tokens(worker)
    _end_streams_on_graceful_stop(worker)


def _end_streams_on_graceful_stop(worker: Any) -> None:
    """SIGTERM (a graceful stop or a restart) also ends the worker's streams: its
    subscriptions end with SHUTTING_DOWN (SSE: a last `next` with the code, then
    `complete`) and its WebSockets close with 1001. gunicorn waits for open
    connections, and a stream stays open for as long as its client likes, so the
    worker would wait out graceful_timeout and its clients would be cut off at
    the end without being told."""
    handle_exit = worker.handle_exit

    def exit_ending_streams(sig: int, frame: Any) -> None:
        handle_exit(sig, frame)
        # Out of the signal handler: ending streams writes to sockets, which may block.
        gevent.spawn(_end_streams)

    signal.signal(signal.SIGTERM, exit_ending_streams)
    # As gunicorn has it: SIGTERM does not interrupt the requests' system calls.
    signal.siginterrupt(signal.SIGTERM, False)


def _end_streams() -> None:
    # Imported here, as in _reload_worker_tokens: the worker's own modules.
    from app.api.websocket import close_all_going_away
    from app.watching import shut_down_all

    shut_down_all()
    close_all_going_away()


def worker_int(worker: Any) -> None:
    """SIGINT or SIGQUIT, a quick stop: the streams are told before the worker exits."""
    from app.watching import shut_down_all

    shut_down_all()


def worker_exit(server: Any, worker: Any) -> None:
    # Whatever stopped the loop (a restart after max requests, the master gone).
    from app.watching import shut_down_all

    shut_down_all()


def _reload_worker_tokens(worker: Any) -> None:
    # Imported here: a development worker imports the app afresh after the fork
    # (deploy/gunicorn.dev.conf.py), and its modules are the ones to reach.
    from app.api.auth import reload_tokens
    from app.config import ConfigError

    try:
        count = reload_tokens()
    except ConfigError as error:
        worker.log.error("objmgr: tokens not reloaded, the ones in use stay: %s", error)
    else:
        worker.log.info(
            "objmgr: worker %s serves the reloaded tokens (%d principals)", worker.pid, count
        )


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    """Give the worker's other connections a turn after every response.

    A gevent worker goes on to a keep-alive client's next request as soon as it
    has answered the last, and when that request is already there nothing else
    runs in between: under load a few busy clients can hold a worker for a
    second while its other connections wait, new ones too (a health probe, a
    free). The README's Speed section has the figures.
    """
    gevent.sleep(0)
