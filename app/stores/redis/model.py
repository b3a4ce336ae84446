"""The Redis store's data model: its keys, and the bounds of every script.

Every key of pool NAME carries the hash tag `{pool:NAME}`, so all of one
pool's keys live in one cluster slot and every script touches the keys of one
pool only; that is what lets the store run on Redis Cluster unchanged. `P`
stands for `objmgr:{pool:NAME}`:

    P:meta      hash   size, next_fresh, created_at, policy, v, named, cools
        next_fresh: the lowest object never handed out; every object below it
        is held, free, cooling or retired, every object from it up has never
        been used but those in P:named, so a pool of any size costs one small
        hash. policy: `PoolPolicy.to_json()` (rule R12; absent or "{}" for the
        default), read with the size by every script, so a grant or renewal
        follows the policy of its own instant. v: 2 once the pool has the
        owners' index and the runs (a new pool at once; an older version's
        pool once scripts built them, COUNT_SCAN entries per script, from the
        cursor up/up_at, see lua/freeing.lua upgrade). named, cools: 1 while
        P:named or P:cooling may hold anything, so that a pool using neither
        never looks at them.
    P:counters  hash   token, ticket, free_seq, event_seq
        The last fencing token, waiter ticket, free-queue sequence number and
        journal seq. Never deleted, not even with the pool, so tokens and seqs
        keep growing when a pool is deleted and made again (rules R3, R9), and
        a ticket id is never used twice.
    P:leases    hash   obj -> JSON {token, owner, label, request_id, rk,
                       acquired_at, expires_at, ttl}
        Held objects, expired ones included until they are reclaimed. Numbers
        are strings written with %.17g, which round-trip a double exactly.
    P:held      zset   obj scored by obj: leases in object order, for paging
                       and for counting the held objects within the size.
    P:expiry    zset   obj zero-padded to ten digits, scored by expires_at:
                       leases with a TTL, earliest first, equal expiries in
                       object order.
    P:free      zset   obj scored by free_seq: freed (or reclaimed) objects,
                       longest free first.
    P:retired   zset   "obj:free_seq" scored by obj: free objects above the
                       size, set aside by the acquires that met them at the
                       front of P:free, and put back there with their old
                       free_seq when the pool grows over them again.
    P:requests  hash   rk -> "obj,obj,...", rk being JSON [owner, request_id]:
                       the live leases of an idempotent acquire, in grant
                       order (rules R2, R10: a set's survivors replay); an
                       older version's single obj is the same text.
    P:queue     zset   waiter ticket scored by ticket: arrival order.
    P:waiters   hash   ticket -> session id of the process that waits on it.
    P:sessions  hash   session id -> how many of its tickets are queued.
    P:session:SID  string with a TTL (PX): the session is alive while the key
        exists. A process refreshes it, for each pool it has waiters in, from a
        native thread of its own, so a stalled event loop keeps its turns;
        only a process that stops altogether (killed, frozen) loses them, once
        Redis itself has let the key expire. Redis measures that TTL, so no
        host's clock step can end a session early or keep a dead one alive.
    P:events    stream the journal (rule R9): one entry per event, its id
                       "SEQ-0", its fields kind, at, and those of obj, token,
                       owner, label, principal, reason, size, expires_at the
                       event has. Written by the script that makes the change,
                       so an event is in the journal exactly when its change
                       is; not deleted with the pool, so a deleted pool's
                       events stay readable while kept.
        A stream rather than a list: its entries are found by id, so
        `events(after, first)` is one XRANGE from "(after" in O(log n + page)
        wherever it starts, where a list would walk to the offset; and
        `XADD MAXLEN ~ keep` trims whole macro nodes, a bounded step that
        keeps at least `keep` entries and fewer than one node more (a node
        holds up to `stream-node-max-entries`, 100 by default), instead
        of an LTRIM that may shift the whole list. An entry with the same
        fields as its node's first stores only its values. Every script
        replies the entries it wrote beside its own reply, so the store tells
        its listeners of them without reading the stream back.
    P:cooling   zset   obj zero-padded, scored by its cooling's end (rule
                       R13): objects out of circulation after an expiry or a
                       revocation, the earliest end first, moved to P:free as
                       freed at that end RECLAIM_BATCH at a time by every
                       script (and by the reaper in larger batches).
    P:cool_objs zset   the same objects scored by obj: `cooling` within the
                       size is one ZCOUNT; those already due are subtracted
                       with a ZCOUNT of P:cooling (exact unless objects cool
                       above the size after a shrink, then counted from the
                       smaller side, as expired leases are).
    P:named     zset   obj scored by obj: objects at or above next_fresh
                       granted by name (rule R11); the fresh order skips each
                       once and drops it, so the cost is O(1) amortized.
    P:owners    zset   LEN4 owner pad(obj), all scored 0 (LEN4: the owner's
                       byte length in four digits): one owner's leases are a
                       lexical range in object order, for leases(owner=) in
                       O(log n + page) and for maxPerOwner's count in
                       O(log n) with one ZLEXCOUNT (rules R12, R15); its
                       expired leases awaiting reclamation are subtracted by
                       looking at no more than COUNT_SCAN of them.
    P:runs      zset   s scored by s: the start of each run s..e of
                       consecutive free objects (those of P:free and
                       P:retired), found for an object x by one
                       ZREVRANGEBYSCORE x -inf LIMIT 0 1 (rule R10).
    P:run_ends  hash   s -> e, for runs longer than one object.
    P:runs_by_len zset s scored by class * 2^32 + s, for runs of two or more;
                       class is the run's length, capped at MAX_COUNT + 1.
    P:run_min   zset   class scored by the lowest start of its runs: the
                       lowest run of at least c objects is the first class
                       >= c in start order, at most MAX_COUNT + 1 entries
                       read, never a scan of the pool. Never-used objects are
                       not in the runs: they are one run from next_fresh
                       (broken only by P:named's objects held or cooling), so
                       a grant of fresh objects touches no run, and a free or
                       a grant of a lone free object costs four commands.
    P:seen  zset  the waiters' heartbeats of an older version, whose
        waiters are gone by now: nothing reads it, and a pool's delete
        removes it with the pool's other keys (so it is one of the KEYS).

    objmgr:pool-names  zset  every score 0: pool names, listed a page at a
        time in name order with ZRANGE BYLEX. It lives in a slot of its own,
        so it is updated by separate commands around the pool's script, never
        inside one: a create adds the name before its script (and again after),
        a delete removes it after its script and puts it back if the pool
        exists again by then. Nothing but listing reads it, and names of
        deleted pools in it are skipped. `objmgr:pools`, the set an older
        version kept, is read into it once and deleted.
    objmgr:initialized  string  set by `open()` once it made the default pool
        (`opening.py`). An operation on a new connection that finds it gone
        knows Redis lost its data and makes the default pool again; one that
        finds it knows a missing default pool was deleted on purpose.
    objmgr:ready  string  written by every readiness check (PX), so the check
        proves Redis accepts writes; no lease depends on it, and it is the
        only key a readiness check writes.

Every key a script touches is one of its KEYS but the sessions
`P:session:SID`, which `live_head` looks up by the ids the queue holds; they
carry the pool's tag, so they are in its slot all the same.

Channel `objmgr:changed` carries a pool's name whenever a script changed the
pool in a way that may let the head of its queue be served (a free, a
reclaim, a resize, a delete, a waiter served, the head leaving), and only
when the pool has waiters. Every process subscribes once. On Redis Cluster a
PUBLISH reaches every node; sharded pub/sub would move it to SPUBLISH on
`objmgr:{pool:NAME}:changed` (the pool's own slot) and one SSUBSCRIBE per pool
a process waits in.

Following a journal (`Store.wait_for_events`, `following.py`) is a blocking
`XREAD BLOCK ms COUNT n STREAMS P:events SEQ-0` on a connection of its own per
pool followed: nothing is written for it, and the scripts do not change.

Spanning pools is done from Python, pool by pool (`owned.py`): an owner's
leases of every pool are one `leases` script per pool listed, a page of pool
names in one pipeline; a revocation is one `revoke` script per batch of at
most REVOKE_BATCH leases.

Waiters of a dead session are skipped, and dropped DEAD_BATCH at a time by the
scripts that meet them at the head of the queue. Expired leases are reclaimed
RECLAIM_BATCH at a time by every script (earliest expiry first, so the free
order holds) and by each process's reaper in larger batches of their own;
until then, reads count them as free.
"""

from __future__ import annotations

from ...pool import limits

#: Keys of one pool, in the order the scripts receive them.
KEY_PARTS = (
    "meta",
    "counters",
    "free",
    "leases",
    "held",
    "expiry",
    "requests",
    "queue",
    "waiters",
    "sessions",
    "retired",
    "events",
    "seen",
    "cooling",
    "cool_objs",
    "named",
    "owners",
    "runs",
    "run_ends",
    "runs_by_len",
    "run_min",
)
POOL_NAMES_KEY = "objmgr:pool-names"
OLD_POOLS_KEY = "objmgr:pools"
STORE_MARK = "objmgr:initialized"
READY_KEY = "objmgr:ready"
READY_TTL_MS = 60_000
CHANNEL = "objmgr:changed"

#: Seconds a session lives without a refresh, measured by Redis.
SESSION_TTL = 2.0
#: Seconds between a process's refreshes of its sessions.
SESSION_REFRESH = 0.5

#: Expired leases every script reclaims at most, before its own work.
RECLAIM_BATCH = 16
#: Expired leases one reaper script reclaims at most, and the seconds its
#: process waits before the next batch when more are expired.
REAP_BATCH = 100
REAP_PAUSE = 0.01
#: Dead waiters one script drops at most.
DEAD_BATCH = 100
#: Free objects above the size one script sets aside, or puts back, at most.
FREE_SCAN = 256
#: Entries a read looks at at most beyond its page (expired leases skipped).
COUNT_SCAN = 1000
#: Leases one revocation script ends at most (rule R14).
REVOKE_BATCH = 100
#: The largest count of one grant (`limits.MAX_COUNT`): runs at least this
#: long are one length class of the runs' index (rule R10).
MAX_COUNT = limits.MAX_COUNT
#: Times one operation runs its script again while the script makes progress
#: in bounded steps (retired objects set aside or put back, dead waiters
#: dropped, expired leases skipped, names of deleted pools skipped).
MAX_STEPS = 1000


def _tagged(pool: str, part: str) -> str:
    return f"objmgr:{{pool:{pool}}}:{part}"


def pool_keys(pool: str) -> list[str]:
    return [_tagged(pool, part) for part in KEY_PARTS]


def events_key(pool: str) -> str:
    """The journal of pool name `pool` (rule R9)."""
    return _tagged(pool, "events")


def session_key(pool: str, session: str) -> str:
    return _tagged(pool, f"session:{session}")


def lua_constants() -> str:
    """The bounds above as the scripts' own locals."""
    values = {
        "CHANNEL": repr(CHANNEL),
        "SESSION_TTL_MS": str(int(SESSION_TTL * 1000)),
        "RECLAIM_BATCH": str(RECLAIM_BATCH),
        "DEAD_BATCH": str(DEAD_BATCH),
        "FREE_SCAN": str(FREE_SCAN),
        "COUNT_SCAN": str(COUNT_SCAN),
        "REVOKE_BATCH": str(REVOKE_BATCH),
        "MAX_COUNT": str(MAX_COUNT),
    }
    return "".join(f"local {name} = {value}\n" for name, value in values.items())
