"""Structured logs: the line formats, request ids, the audit trail, gunicorn's and gevent's lines.

Every line goes to stderr through the standard `logging` module, as JSON or
key=value (`OBJMGR_LOG_FORMAT`); the README's "Operating" section lists the
fields.
"""

from __future__ import annotations

from .audit import log_events
from .request_ids import ENVIRON_KEY, RequestIds
from .secrets import masked_url
from .setup import configure_logging

__all__ = ["ENVIRON_KEY", "RequestIds", "configure_logging", "log_events", "masked_url"]
