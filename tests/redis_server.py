"""Where the Redis tests of the stores find the tests' redis-server: tests/support/redis_server.py.

Kept for the test modules that still import it by this name.
"""

from __future__ import annotations

from .support.redis_server import DebuggableRedisServer, RedisServer, launch_redis

__all__ = ["DebuggableRedisServer", "RedisServer", "launch_redis"]
