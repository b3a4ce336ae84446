"""A database file that vanishes or is replaced is refused, never re-created.

The first start of a service makes the file, a random `database_id` inside
it, and a marker beside it (`.NAME.id`, hidden, so that `rm objmgr.sqlite3*`
leaves it) carrying the same id. From then on:

- a missing file whose marker exists is refused: a worker started after the
  file was deleted must not make an empty one and hand out objects and tokens
  a second time;
- a file whose id differs from the marker's, or from the id this process
  opened before, is refused: it is another database;
- the file at the path is compared (device and inode) with the one each
  connection opened, before every COMMIT and every read: a file deleted or
  replaced while in use answers `STORE_UNAVAILABLE` instead of writing into a
  file nobody will read again.

An operator restores the file (its id matches: the service carries on), or
removes the marker to start afresh with an empty database.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
from pathlib import Path
from urllib.parse import quote

from ..group_commit import CommitRefused

log = logging.getLogger(__name__)

FileIdentity = tuple[int, int]


class DatabaseRefused(CommitRefused):
    """The file at the path is not (or no longer) this service's database."""


#: A disk with less room than this is reported not ready: the next WAL frames need it.
MIN_FREE_BYTES = 1 << 20


class DatabaseGuard:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.marker = path.with_name(f".{path.name}.id")
        # The id this process opened first: a different one later is another database.
        self.known_id: str | None = None

    def connect(self, *, create: bool, timeout: float) -> tuple[sqlite3.Connection, FileIdentity]:
        """A connection to the file at the path; made only when `create` and this is the
        first start (no marker). Raises `DatabaseRefused`."""
        marked = self._marked_id()
        exists = self.path.exists()
        made_before = bool(marked or self.known_id)
        if not exists and not made_before and not create:
            raise DatabaseRefused(
                f"the SQLite database {self.path} is not made yet: the service makes it "
                "when it opens the store"
            )
        if not exists and made_before:
            raise DatabaseRefused(
                f"the SQLite database {self.path} is missing, but {self.marker} shows that "
                "this service made it: restore the file, or remove the marker to start afresh "
                "with an empty database (every lease is then forgotten and tokens start again "
                "from 1)"
            )
        mode = "rw" if exists else "rwc"
        conn = sqlite3.connect(
            f"file:{quote(str(self.path))}?mode={mode}",
            uri=True,
            timeout=timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            identity = self.identity()
        except BaseException:
            conn.close()
            raise
        return conn, identity

    def claim(self, conn: sqlite3.Connection) -> str:
        """The database's id, made now for a new (or older version's) file; inside
        the write transaction that prepared the schema. Raises `DatabaseRefused`."""
        row = conn.execute("SELECT value FROM meta WHERE key = 'database_id'").fetchone()
        marked = self._marked_id()
        if row is None:
            if marked:
                raise self._other_database(marked, None)
            database_id = secrets.token_hex(16)
            conn.execute("INSERT INTO meta (key, value) VALUES ('database_id', ?)", (database_id,))
            return database_id
        database_id = str(row[0])
        if (marked and marked != database_id) or (
            self.known_id is not None and self.known_id != database_id
        ):
            raise self._other_database(marked or self.known_id, database_id)
        return database_id

    def opened(self, database_id: str) -> None:
        """After the COMMIT that claimed `database_id`: remember it, and mark it beside the file."""
        self.known_id = database_id
        if self._marked_id() != database_id:
            temporary = self.marker.with_name(f"{self.marker.name}.{os.getpid()}.tmp")
            with temporary.open("w") as out:
                out.write(database_id + "\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.marker)

    def check_same(self, database_id: str | None) -> None:
        """For a reader: the file it opened is the database this process knows, or
        the marker names when this process has not opened one yet."""
        expected = self.known_id or self._marked_id()
        if expected and database_id != expected:
            raise self._other_database(expected, database_id)

    def check_layout(self, layout: int, known: int) -> None:
        """For a reader: the file's tables are of the layout this version reads."""
        if layout != known:
            raise DatabaseRefused(
                f"the SQLite database {self.path} has layout {layout}, this version reads "
                f"{known}: the service migrates it when it opens the store"
            )

    def check(self, opened: FileIdentity) -> None:
        """Raise `DatabaseRefused` unless the file at the path is the one `opened`."""
        try:
            now = self.identity()
        except FileNotFoundError:
            raise DatabaseRefused(
                f"the SQLite database {self.path} was deleted while in use: restore it, or "
                f"remove {self.marker} to start afresh with an empty database"
            ) from None
        if now != opened:
            raise DatabaseRefused(
                f"the SQLite database {self.path} was replaced while in use; "
                "reconnecting to the file now at the path"
            )

    def check_room(self) -> None:
        """Raise `DatabaseRefused` when the disk of the database is (nearly) full."""
        stats = os.statvfs(self.path.parent)
        if stats.f_bavail * stats.f_frsize < MIN_FREE_BYTES:
            raise DatabaseRefused(f"the disk holding {self.path} is full")

    def identity(self) -> FileIdentity:
        stat = os.stat(self.path)
        return stat.st_dev, stat.st_ino

    def _marked_id(self) -> str:
        try:
            return self.marker.read_text().strip()
        except FileNotFoundError:
            return ""

    def _other_database(self, expected: str | None, found: str | None) -> DatabaseRefused:
        return DatabaseRefused(
            f"the SQLite database {self.path} is not the one this service made "
            f"(its id is {found or 'missing'}, {self.marker} says {expected}): put the right "
            "file back, or remove the marker to serve this one"
        )
