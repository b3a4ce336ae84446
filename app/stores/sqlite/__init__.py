"""`sqlite:///PATH`: the default store, shared by every worker on one host (see `store.py`)."""

from __future__ import annotations

from .objects import RECLAIM_PER_WRITE
from .store import SQLiteStore

__all__ = ["RECLAIM_PER_WRITE", "SQLiteStore"]
