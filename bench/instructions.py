"""What an acquire costs in CPU instructions, ON (this tree) against OFF (before the journal,
the metrics and the structured logs), counted by valgrind's callgrind.

Instruction counts do not move with the machine's load, so they weigh a change on a busy
machine where req/s cannot. Each count runs the app in one process under callgrind: the
tree's `create_app()` (gevent's monkey patching first, as a gunicorn gevent worker does;
prometheus_client in multiprocess mode, as under gunicorn; JSON lines on ON), then N
requests `POST /graphql mutation { acquireObject ... }` through its WSGI callable, each
followed by the access line that gunicorn's worker writes with the tree's logger class
(ON: app.logs.gunicorn_logger; OFF: gunicorn's own). Two counts, N1 and N2 requests,
give the instructions of one acquire, start-up and first-request work taken out:

    (total(N2) - total(N1)) / (N2 - N1)

    .venv/bin/python -m bench.instructions                       # ON and OFF, SQLite
    .venv/bin/python -m bench.instructions --trees on --drop audit,access
    .venv/bin/python -m bench.instructions --requests 100,400 --stores sqlite,redis

from the checkout's root. OFF (commit de456ea, --off-commit) is checked out with `git
worktree add` into the scratch directory and removed after. `--drop` serves ON without
some of what it does per acquire, to weigh each part: `audit` (the `objmgr.events`
logger silenced), `access` (no access line), `metrics` (no counter, no histogram),
`request_ids` (no request id or record: the outermost layer unwrapped). Every acquire
answered must say `"success": true`, or the count fails.

Exit status: 0 when every count ran, 2 when one could not (no valgrind, a failed request).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OFF_COMMIT = "de456ea"
ACQUIRE = "mutation { acquireObject { success lease { obj token } } }"
PARTS = ("audit", "access", "metrics", "request_ids")
# First requests are not counted apart: the difference of two counts takes them out.
WARMUP = 20
_TOTAL = re.compile(rb"^(?:totals|summary):\s*(\d+)", re.MULTILINE)


# The counted process ----------------------------------------------------------------
class SentResponse:
    """What gunicorn's access line reads of a response it sent."""

    def __init__(self, status: str, headers: list[tuple[str, str]], sent: int) -> None:
        self.status = status
        self.status_code = int(status.split(None, 1)[0])
        self.headers = headers
        self.sent = sent
        self.response_length = sent


class ParsedRequest:
    """What gunicorn's access line reads of a request it parsed."""

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self.headers = headers


def access_logger(tree: Path) -> Any:
    """The access logger gunicorn's worker would use with the tree's configuration."""
    from gunicorn.config import Config  # type: ignore[import-untyped]

    config = Config()
    config.set("accesslog", "-")
    config.set("errorlog", "-")
    if (tree / "app" / "logs" / "gunicorn_logger.py").is_file():
        config.set("logger_class", "app.logs.gunicorn_logger.GunicornLogger")
    return config.logger_class(config)


def dropped(served: Any, parts: set[str]) -> Any:
    """`served` (an app of this tree) without `parts`, for weighing each."""
    import logging

    if "audit" in parts:
        logging.getLogger("objmgr.events").setLevel(logging.WARNING)
    if "metrics" in parts:
        service = served.extensions["objmgr"]
        service.observer = None
        store = service.store
        store._listeners = tuple(
            listener
            for listener in store._listeners
            if not getattr(listener, "__qualname__", "").startswith("Instruments.")
        )
        if hasattr(served.wsgi_app, "served"):
            served.wsgi_app.served = None
    if "request_ids" in parts:
        served.wsgi_app = served.wsgi_app.app
    return served


def drive(count: int, tree: Path, store: str, parts: set[str]) -> None:
    """Serve `count` acquires with the app of `tree`, in this process."""
    from gevent import monkey

    monkey.patch_all()
    scratch = Path(tempfile.mkdtemp(prefix="objmgr-instructions-"))
    try:
        os.environ.update(
            {
                "OBJMGR_STORE": store,
                "OBJMGR_POOL_SIZE": str(count + WARMUP + 10),
                "OBJMGR_ENV": "development",
                "OBJMGR_LOG_FORMAT": "json",
                "PROMETHEUS_MULTIPROC_DIR": str(scratch),
            }
        )
        sys.path.insert(0, str(tree))
        import app

        if Path(app.__file__).resolve().parent != (tree / "app").resolve():
            raise SystemExit(f"imported {app.__file__}, not the tree's {tree / 'app'}")
        served = dropped(app.create_app(), parts)
        log = access_logger(tree)
        serve = acquire_server(served, log, "access" not in parts)
        for _ in range(WARMUP + count):
            serve()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def acquire_server(served: Any, log: Any, write_access: bool) -> Callable[[], None]:
    body = json.dumps({"query": ACQUIRE}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/graphql",
        "QUERY_STRING": "",
        "RAW_URI": "/graphql",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "40000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    request = ParsedRequest(
        [("HOST", "127.0.0.1:5000"), ("CONTENT-TYPE", "application/json"), ("CONTENT-LENGTH", "0")]
    )

    def serve() -> None:
        started = perf_counter()
        answered: list[Any] = []
        request_environ = {**environ, "wsgi.input": io.BytesIO(body)}

        def start_response(status: str, headers: list[tuple[str, str]], *_: Any) -> None:
            answered[:] = [status, headers]

        result = served(request_environ, start_response)
        try:
            answer = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if b'"success":true' not in answer.replace(b" ", b""):
            raise SystemExit(f"an acquire failed: {answered[:1]} {answer[:300]!r}")
        if write_access:
            response = SentResponse(answered[0], answered[1], len(answer))
            log.access(
                response, request, request_environ, timedelta(seconds=perf_counter() - started)
            )

    return serve


# The counting -----------------------------------------------------------------------
def counted(count: int, tree: Path, store: str, parts: set[str], scratch: Path) -> int:
    """Instructions callgrind counted in a process serving `count` acquires."""
    out = scratch / f"callgrind.{os.getpid()}.{count}.out"
    argv = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "bench.instructions",
        "--drive",
        str(count),
        "--tree",
        str(tree),
        "--store-url",
        store,
        "--drop",
        ",".join(sorted(parts)),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    ran = subprocess.run(
        argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    if ran.returncode:
        tail = ran.stderr.decode(errors="replace").strip().splitlines()[-15:]
        raise RuntimeError(f"{count} acquires on {tree} failed:\n" + "\n".join(tail))
    found = _TOTAL.search(out.read_bytes())
    out.unlink()
    if found is None:
        raise RuntimeError(f"no total in callgrind's output {out}")
    return int(found.group(1))


@contextlib.contextmanager
def store_urls(name: str, scratch: Path) -> Iterator[Callable[[int], str]]:
    """A fresh store for each count: the `index`th SQLite file, or Redis database."""
    if name == "sqlite":
        yield lambda index: f"sqlite:///{scratch / f'count-{index}.sqlite3'}"
        return
    from .servers import redis_store

    with redis_store(argparse.Namespace(), scratch / "redis") as run:
        base = run.url.rsplit("/", 1)[0]
        yield lambda index: f"{base}/{index % 16}"


def per_acquire(
    tree: Path,
    stores: Callable[[int], str],
    parts: set[str],
    counts: tuple[int, int],
    scratch: Path,
) -> float:
    first, second = (counted(n, tree, stores(next(_COUNTS)), parts, scratch) for n in counts)
    return (second - first) / (counts[1] - counts[0])


_COUNTS = itertools.count()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite", help="sqlite, redis or both")
    parser.add_argument("--trees", default="on,off", help="on, off or both (default both)")
    parser.add_argument("--off-commit", default=OFF_COMMIT, help=f"default {OFF_COMMIT}")
    parser.add_argument(
        "--on-tree", type=Path, default=ROOT, help="ON's checkout (default: this one)"
    )
    parser.add_argument("--requests", default="100,300", help="N1,N2 (default 100,300)")
    parser.add_argument(
        "--drop", default="", help=f"ON without some of {', '.join(PARTS)}, comma-separated"
    )
    parser.add_argument("--drive", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.parts = {part for part in args.drop.split(",") if part}
    if not args.parts <= set(PARTS):
        parser.error(f"--drop: expected some of {', '.join(PARTS)}, got {args.drop!r}")
    args.tree_names = [name for name in args.trees.split(",") if name]
    if not args.tree_names or not set(args.tree_names) <= {"on", "off"}:
        parser.error(f"--trees: expected on, off or both, got {args.trees!r}")
    args.store_names = [name for name in args.stores.split(",") if name]
    if not args.store_names or not set(args.store_names) <= {"sqlite", "redis"}:
        parser.error(f"--stores: expected sqlite, redis or both, got {args.stores!r}")
    try:
        first, second = (int(n) for n in args.requests.split(","))
    except ValueError:
        parser.error(f"--requests: expected N1,N2, got {args.requests!r}")
    if not 0 < first < second <= 10_000:
        parser.error("--requests: expected 0 < N1 < N2 <= 10000")
    args.counts = (first, second)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.drive is not None:
        drive(args.drive, args.tree, args.store_url, args.parts)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    from .journal_metrics import worktree

    print(f"instructions per acquire, {args.counts[0]} and {args.counts[1]} requests", flush=True)
    with tempfile.TemporaryDirectory(prefix="objmgr-instructions-") as scratch_dir:
        scratch = Path(scratch_dir)
        with contextlib.ExitStack() as trees:
            paths = {"on": args.on_tree.resolve()}
            if "off" in args.tree_names:
                paths["off"] = trees.enter_context(worktree(args.off_commit, scratch / "off"))
            figures: dict[tuple[str, str], float] = {}
            try:
                for store in args.store_names:
                    with store_urls(store, scratch) as stores:
                        for name in args.tree_names:
                            parts = args.parts if name == "on" else set()
                            figure = per_acquire(paths[name], stores, parts, args.counts, scratch)
                            figures[store, name] = figure
                            dropping = f" without {','.join(sorted(parts))}" if parts else ""
                            print(
                                f"  {store:6} {name.upper():3}{dropping}: {figure:,.0f}", flush=True
                            )
            except RuntimeError as error:
                print(f"count failed: {error}", file=sys.stderr)
                return 2
    for store in args.store_names:
        if (store, "on") in figures and (store, "off") in figures:
            ratio = figures[store, "on"] / figures[store, "off"]
            print(f"  {store:6} ON/OFF {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
