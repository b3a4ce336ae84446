"""`memory://`: pools in this process only (see `store.py`).

- `objects.py`  `ObjectMgr`, the in-process pool of objects behind each pool
- `runs.py`     ordered sets: held objects in order, and the runs of available ones (R10)
- `pool_state.py` one pool: its objects, leases, owners and request ids
- `store.py`    `MemoryStore`: leases, tokens, request ids, waiters, expiry
"""

from __future__ import annotations

from .objects import ObjectMgr
from .store import MemoryStore

__all__ = ["MemoryStore", "ObjectMgr"]
