"""The fault tests start gunicorn servers as the live tests do, and may kill them at will."""

from __future__ import annotations

from ..live.conftest import live_server, live_servers

__all__ = ["live_server", "live_servers"]
