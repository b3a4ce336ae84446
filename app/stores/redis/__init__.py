"""`redis://HOST:PORT/DB`: pools shared by every worker on every host.

- `model.py`    the data model: every key, what it holds, and the bounds
- `lua/`        one script per operation, after the shared parts (`wire.PRELUDE`)
- `wire.py`     script loading, pipelines, one deadline, honest outcomes
- `commands.py` concurrent callers' commands batched into one pipeline
- `opening.py`  the default pool, made by `open()` and again after Redis lost it
- `names.py`    the index of pool names that `pools()` pages through
- `owned.py`    owners' leases across pools, and revocation in bounded batches
- `replies.py`  the codes each script answers with
- `queues.py`   this process's waiters: tickets, wait room, head of the queue
- `waiting.py`  the waiters' session and the pub/sub listener
- `reaping.py`  the reaper of expired leases
- `store.py`    `RedisStore`
"""

from .model import KEY_PARTS, POOL_NAMES_KEY, STORE_MARK
from .store import RedisStore

__all__ = ["KEY_PARTS", "POOL_NAMES_KEY", "STORE_MARK", "RedisStore"]
