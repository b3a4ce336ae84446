"""The SQLite store's tables, and the migration of files an earlier version made.

Data model (one file, WAL journal; `PRAGMA user_version` is the layout's version):

    meta(key PK, value)
        `database_id`: a random id made with the file. The marker beside the
        file carries it too, so that a file that vanished, or another one put
        in its place, is told apart from the first start (`guard.py`).
    pools(name PK, size, next_fresh, created_at, held, held_above, waiting,
          cooling, cooling_above, next_skip, skip_top, free_seq,
          default_ttl, max_ttl, max_per_owner, reuse_delay, reuse_first, description)
        next_fresh: the lowest object never handed out; every object below it
        is in `leases`, `free_objects` or `cooling`; from it up, every object
        has never been used but those of `skips` (named objects granted ahead
        of the fresh order, rule R11), so a pool of any size costs one row.
        next_skip: the lowest start of the pool's `skips` (NULL: none), so the
        fresh order looks at `skips` only when there is one; skip_top: the
        highest object ever skipped. Every object from the pool's "tail",
        max(next_fresh, skip_top + 1), up has never been used.
        held: rows of `leases` of the pool; held_above: those above `size`
        (still held after a shrink); waiting: rows of `waiters`; cooling and
        cooling_above: rows of `cooling`, and those above `size`; free_seq:
        the last `free_objects.seq` handed out. Every change keeps them in its
        own transaction, so a pool's counts are one row however many objects
        are held or cooling.
        The policy (rule R12) is the last six columns, NULL (0) for no rule,
        read with the row by the grant or renewal it governs.
    fencing(pool PK, last_token)
        The last token granted per pool name. Never deleted, not even with
        the pool, so tokens grow across restarts and re-creations (rule R3).
    leases(pool, obj, token, owner, label, request_id, acquired_at,
           expires_at, ttl; PK (pool, obj))
        Held objects. A row whose expires_at has passed is left out by every
        read and reclaimed in bounded batches: a few by each write to its
        pool, the rest by each process's reaper, oldest expiry first.
        Indexed by (owner, pool, obj) for leases with an owner: one owner's
        leases of a pool or of every pool are one range (rule R15), and
        `maxPerOwner` counts at most its limit of them (rule R12).
    expiries(pool, second; PK both, leases)
        How many of the pool's lease rows expire in each second (of the
        epoch): the counts of the seconds past, less what was reclaimed, are
        the expired leases the reaper has not reached, so reads leave them out
        without counting them one by one (and, under a `reuseDelay`, count
        those that ended less than that delay ago as cooling).
    free_objects(pool, obj; PK both, seq, freed_at)
        Objects that were freed (or reclaimed: freed_at is then the expiry;
        or cooled: freed_at is then the cooling's end), longest free first by
        (freed_at, seq); the index makes the next free object one index probe
        however many objects are held, and the key finds a named one.
    free_runs(pool, start; PK both, stop, span)
        The maximal runs start..stop of available objects below the pool's
        tail (freed ones, and never-used ones between skipped objects); the
        tail itself, every object from it up, is one run no row records, so
        the fresh order costs no row of it. span is the run's length capped
        at the largest count (`MAX_COUNT`): the index (pool, span, start)
        finds the lowest run that holds c objects in one probe per distinct
        span from c up, without scanning the pool (rule R10). Every change
        that frees or takes an object keeps it in its transaction.
    skips(pool, start; PK both, stop)
        Never-used objects start..stop granted ahead of next_fresh (a named
        object, or a contiguous run above it): the fresh order hops over each
        once it reaches it and drops it (rule R11).
    cooling(pool, obj; PK both, until)
        Objects whose lease expired or was revoked under a `reuseDelay`
        (rule R13), out of circulation until `until`; then moved to
        `free_objects` as freed at `until`, a bounded batch by each write to
        the pool and the rest by the reaper, earliest end first.
    cooling_ends(pool, second; PK both, objects)
        How many of the pool's `cooling` rows end in each second: as
        `expiries` does for leases, it lets a read count the cooled objects
        not moved yet without counting them one by one.
    listeners(id PK AUTOINCREMENT, pid, started, address)
        The processes that have waiters or watchers: the process's id, its
        start time (so that a reused pid is not taken for it) and the address
        of the datagram socket it is woken on.
    waiters(id PK AUTOINCREMENT, pool, listener)
        Blocking acquires in arrival order; ids are never used twice. A
        waiter is live while its listener's process lives.
    health(id PK, checked_at)
        One row that `/readyz` writes to prove the file takes a write.
    events(pool, seq; PK both, kind, at, obj, token, owner, label,
           principal, reason, size, expires_at)
        The journal (rule R9, `journal.py`): each change's events, written in
        its transaction, read a page at a time by key range. Kept per pool
        name, so a deleted pool's stay readable. A pool's last event is never
        deleted and is its seq counter, so seq grows across restarts and
        re-creations; trims take bounded batches of the events older than
        the last `events_keep`.
    watchers(pool, listener; PK both)
        The processes that follow a pool's journal (`watchers.py`): a change
        that wrote events of the pool reads them, one probe of the key, and
        sends each the pool's name after COMMIT. Removed with their listener
        (a process that closed its store, or died), and by their process
        once it no longer follows the pool.
"""

from __future__ import annotations

import sqlite3

from ...pool.limits import MAX_COUNT

VERSION = 5
#: A run's `span` is its length up to this: the largest count a grant takes.
SPAN_CAP = MAX_COUNT

FREE_OBJECTS = """CREATE TABLE IF NOT EXISTS free_objects (
        pool TEXT NOT NULL,
        obj INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        freed_at REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (pool, obj)
    ) WITHOUT ROWID"""

TABLES = (
    """CREATE TABLE IF NOT EXISTS meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS pools (
        name TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        next_fresh INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        held INTEGER NOT NULL DEFAULT 0,
        held_above INTEGER NOT NULL DEFAULT 0,
        waiting INTEGER NOT NULL DEFAULT 0,
        cooling INTEGER NOT NULL DEFAULT 0,
        cooling_above INTEGER NOT NULL DEFAULT 0,
        next_skip INTEGER,
        skip_top INTEGER NOT NULL DEFAULT 0,
        free_seq INTEGER NOT NULL DEFAULT 0,
        default_ttl REAL,
        max_ttl REAL,
        max_per_owner INTEGER,
        reuse_delay REAL,
        reuse_first INTEGER NOT NULL DEFAULT 0,
        description TEXT
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS fencing (
        pool TEXT PRIMARY KEY,
        last_token INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS leases (
        pool TEXT NOT NULL,
        obj INTEGER NOT NULL,
        token INTEGER NOT NULL,
        owner TEXT,
        label TEXT,
        request_id TEXT,
        acquired_at REAL NOT NULL,
        expires_at REAL,
        ttl REAL,
        PRIMARY KEY (pool, obj)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS expiries (
        pool TEXT NOT NULL,
        second INTEGER NOT NULL,
        leases INTEGER NOT NULL,
        PRIMARY KEY (pool, second)
    ) WITHOUT ROWID""",
    FREE_OBJECTS,
    """CREATE TABLE IF NOT EXISTS free_runs (
        pool TEXT NOT NULL,
        start INTEGER NOT NULL,
        stop INTEGER NOT NULL,
        span INTEGER NOT NULL,
        PRIMARY KEY (pool, start)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS skips (
        pool TEXT NOT NULL,
        start INTEGER NOT NULL,
        stop INTEGER NOT NULL,
        PRIMARY KEY (pool, start)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS cooling (
        pool TEXT NOT NULL,
        obj INTEGER NOT NULL,
        until REAL NOT NULL,
        PRIMARY KEY (pool, obj)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS cooling_ends (
        pool TEXT NOT NULL,
        second INTEGER NOT NULL,
        objects INTEGER NOT NULL,
        PRIMARY KEY (pool, second)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS listeners (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pid INTEGER NOT NULL,
        started TEXT NOT NULL,
        address BLOB NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS waiters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        pool TEXT NOT NULL,
        listener INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS health (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        checked_at REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS events (
        pool TEXT NOT NULL,
        seq INTEGER NOT NULL,
        kind TEXT NOT NULL,
        at REAL NOT NULL,
        obj INTEGER,
        token INTEGER,
        owner TEXT,
        label TEXT,
        principal TEXT,
        reason TEXT,
        size INTEGER,
        expires_at REAL,
        PRIMARY KEY (pool, seq)
    ) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS watchers (
        pool TEXT NOT NULL,
        listener INTEGER NOT NULL,
        PRIMARY KEY (pool, listener)
    ) WITHOUT ROWID""",
)

INDEXES = (
    "CREATE INDEX IF NOT EXISTS leases_by_expiry ON leases (pool, expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS leases_expiring ON leases (expires_at) "
    "WHERE expires_at IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS leases_by_request ON leases (pool, request_id) "
    "WHERE request_id IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS leases_by_owner ON leases (owner, pool, obj) "
    "WHERE owner IS NOT NULL",
    "CREATE INDEX IF NOT EXISTS free_objects_by_age ON free_objects (pool, freed_at, seq)",
    "CREATE INDEX IF NOT EXISTS free_runs_by_span ON free_runs (pool, span, start)",
    "CREATE INDEX IF NOT EXISTS cooling_by_end ON cooling (pool, until, obj)",
    "CREATE INDEX IF NOT EXISTS cooling_ending ON cooling (until)",
    "CREATE INDEX IF NOT EXISTS waiters_by_pool ON waiters (pool, id)",
    "CREATE INDEX IF NOT EXISTS waiters_by_listener ON waiters (listener, pool)",
    "CREATE INDEX IF NOT EXISTS watchers_by_listener ON watchers (listener)",
)


def prepare(conn: sqlite3.Connection) -> None:
    """Make the tables of a new file, or bring an earlier version's file up to
    date; inside the caller's write transaction."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version == VERSION:
        return
    if version > VERSION:
        raise sqlite3.DatabaseError(
            f"the database was made by a newer version (layout {version}, this one knows {VERSION})"
        )
    existing = {
        name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    }
    if "pools" in existing and version < 2:
        _migrate_from_the_first_layout(conn)
    if "pools" in existing:
        _migrate_to_policies_and_runs(conn)
    # Layout 2 lacked only the journal's table, layout 3 only the watchers', layout
    # 4 the tables of runs, skips and cooling, which the statements below make;
    # layout 2's pools begin their journal with their next change.
    for statement in TABLES + INDEXES:
        conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {VERSION}")


# The columns layout 5 added to `pools`, as `ALTER TABLE` adds them.
_POOL_COLUMNS_OF_5 = (
    "cooling INTEGER NOT NULL DEFAULT 0",
    "cooling_above INTEGER NOT NULL DEFAULT 0",
    "next_skip INTEGER",
    "skip_top INTEGER NOT NULL DEFAULT 0",
    "free_seq INTEGER NOT NULL DEFAULT 0",
    "default_ttl REAL",
    "max_ttl REAL",
    "max_per_owner INTEGER",
    "reuse_delay REAL",
    "reuse_first INTEGER NOT NULL DEFAULT 0",
    "description TEXT",
)


def _columns(conn: sqlite3.Connection, table: str) -> dict[str, int]:
    """A table's columns and their place in its primary key (0: not in it)."""
    return {row[1]: row[5] for row in conn.execute(f"PRAGMA table_info({table})")}


def _migrate_to_policies_and_runs(conn: sqlite3.Connection) -> None:
    """Layouts 1-4: no policy, no cooling, and free objects keyed by their seq
    alone, so that a named or contiguous grant could not find one by number.
    Each step looks before it acts: a file part-way there is brought the rest."""
    present = _columns(conn, "pools")
    for column in _POOL_COLUMNS_OF_5:
        if column.split()[0] not in present:
            conn.execute(f"ALTER TABLE pools ADD COLUMN {column}")
    free = _columns(conn, "free_objects")
    if free.get("obj") == 2:
        return
    conn.execute("DROP INDEX IF EXISTS free_objects_by_age")
    conn.execute("ALTER TABLE free_objects RENAME TO free_objects_before_5")
    conn.execute(FREE_OBJECTS)
    # The seqs carry on, so the objects freed before the upgrade keep their order.
    conn.execute(
        "INSERT INTO free_objects (pool, obj, seq, freed_at) "
        "SELECT pool, obj, seq, freed_at FROM free_objects_before_5"
    )
    conn.execute(
        "UPDATE pools SET free_seq = (SELECT coalesce(max(seq), 0) FROM free_objects_before_5)"
    )
    conn.execute("DROP TABLE free_objects_before_5")
    for statement in TABLES:
        conn.execute(statement)
    # Every free object is below next_fresh (no earlier layout skipped any), so the
    # runs are the islands of consecutive free objects.
    conn.execute(
        "INSERT INTO free_runs (pool, start, stop, span) "
        "SELECT pool, min(obj), max(obj), min(max(obj) - min(obj) + 1, ?) FROM ("
        "  SELECT pool, obj, obj - row_number() OVER (PARTITION BY pool ORDER BY obj) AS island"
        "  FROM free_objects) GROUP BY pool, island",
        (SPAN_CAP,),
    )


def _migrate_from_the_first_layout(conn: sqlite3.Connection) -> None:
    """Layout 1: no counters, free objects ordered by seq alone, waiters kept
    alive by wall-clock heartbeats with ids that could be used again."""
    for column in ("held", "held_above", "waiting"):
        conn.execute(f"ALTER TABLE pools ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")
    # Counted once, here; every change keeps them from now on.
    conn.execute(
        "UPDATE pools SET "
        "held = (SELECT count(*) FROM leases WHERE leases.pool = pools.name), "
        "held_above = (SELECT count(*) FROM leases "
        "              WHERE leases.pool = pools.name AND leases.obj > pools.size)"
    )
    # Objects freed before the upgrade keep their order, ahead of later ones.
    conn.execute("ALTER TABLE free_objects ADD COLUMN freed_at REAL NOT NULL DEFAULT 0")
    conn.execute("DROP INDEX IF EXISTS free_objects_fifo")
    # The old waiters belonged to processes of the old version, gone by now;
    # the new table's ids start above theirs.
    (last_waiter,) = conn.execute("SELECT coalesce(max(id), 0) FROM waiters").fetchone()
    conn.execute("DROP TABLE waiters")
    for statement in TABLES:
        conn.execute(statement)
    conn.execute("INSERT INTO sqlite_sequence (name, seq) VALUES ('waiters', ?)", (last_waiter,))
    conn.execute(
        "INSERT INTO expiries (pool, second, leases) SELECT pool, CAST(expires_at AS INTEGER), "
        "count(*) FROM leases WHERE expires_at IS NOT NULL GROUP BY 1, 2"
    )
