"""The two shapes of a log line: one JSON object, or key=value pairs (logfmt).

Both carry the same fields: `time` (ISO 8601, UTC), `level`, `logger`,
`message`, then the record's own fields (passed as `extra={FIELDS: {...}}`),
then `request_id` of the request being served when the record names none.
Every value is escaped, so a client's text (a path, an owner, a label) can
never end a line early or forge another one, and every line is scrubbed of
secrets (`secrets.scrub`).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

from ..request_record import current_request
from .secrets import scrub

#: The `extra` key under which a record carries its fields.
FIELDS = "objmgr_fields"

_BARE = re.compile(r"[A-Za-z0-9_.:/@+,-]+")
# Made once: json.dumps with options builds an encoder per call.
_ENCODER = json.JSONEncoder(default=str)
# What _ENCODER.encode makes of a dict, less what it redoes on every call (a C encoder
# built for each): the same separators, str() for what JSON has no type for. Without
# the check for circular containers, which a line's fields (flat, from scalars) never
# are: one that was would recurse, and _ENCODER names it instead.
_make_c_encoder: Any = getattr(json.encoder, "c_make_encoder", None)
_encode_chunks: Any = (
    None
    if _make_c_encoder is None
    else _make_c_encoder(
        None,
        str,
        json.encoder.encode_basestring_ascii,
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,
        False,
        True,
    )
)


def json_line(fields: dict[str, Any]) -> str:
    """`fields` as one JSON object, as `_ENCODER.encode` writes it."""
    if _encode_chunks is None:
        return _ENCODER.encode(fields)
    try:
        return "".join(_encode_chunks(fields, 0))
    except RecursionError:
        return _ENCODER.encode(fields)


def iso_time(seconds: float) -> str:
    """`seconds` since the epoch in ISO 8601, UTC, to the millisecond (…T14:40:47.123Z)."""
    whole, millis = divmod(int(seconds * 1000), 1000)
    return _second_prefix(whole) + _MILLIS[millis]


@functools.lru_cache(maxsize=64)
def _second_prefix(whole: int) -> str:
    # Most lines of a busy second share it: formatting a datetime for each would
    # cost more than the rest of the line.
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")


# Made once: a format spec applied for every time written costs more than an index.
_MILLIS = tuple(f".{millis:03d}Z" for millis in range(1000))
_FIXED = ("time", "level", "logger", "message")


def _fixed_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {
        "time": iso_time(record.created),
        "level": record.levelname,
        "logger": record.name,
        "message": record.getMessage(),
    }


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The line's fields in order: the fixed four, the record's own, the request id."""
    fields = _fixed_fields(record)
    extra = record.__dict__.get(FIELDS)
    if extra:
        fields.update(extra)
        if len(fields) != len(_FIXED) + len(extra):
            # A record's own field named like a fixed one: the fixed one stays.
            fixed = _fixed_fields(record)
            fields = {**fixed, **extra, **fixed}
    if "request_id" not in fields:
        serving = current_request()
        if serving is not None:
            fields["request_id"] = serving.request_id
    if record.exc_info and record.exc_info[1] is not None:
        error = record.exc_info[1]
        fields.setdefault("error", f"{type(error).__name__}: {error}")
    return fields


def info_record(logger: logging.Logger, message: str, fields: dict[str, Any]) -> logging.LogRecord:
    """An INFO record of `logger` carrying `fields`, for `logger.handle`: what
    `logger.info(message, extra={FIELDS: fields})` makes, for lines written on
    every request or event, without the work `LogRecord.__init__` does for
    what no line here shows (the caller's file, thread and process)."""
    record = _RECORD_NEW(logging.LogRecord)
    # A copy of the template replaces the new record's empty attributes at once.
    record.__dict__ = attributes = _info_template(logger.name).copy()
    now = time.time()
    attributes["created"] = now
    attributes["msecs"] = (now - int(now)) * 1000
    attributes["relativeCreated"] = (now - _START) * 1000
    attributes["msg"] = message
    attributes[FIELDS] = fields
    return record


_RECORD_NEW = object.__new__
_START: float = getattr(logging, "_startTime", time.time())


@functools.lru_cache(maxsize=16)
def _info_template(name: str) -> dict[str, Any]:
    # Every attribute a LogRecord has, so handlers and formatters find them all.
    template = logging.LogRecord(name, logging.INFO, "", 0, "", (), None).__dict__.copy()
    for unshown in ("thread", "threadName", "process", "processName", "taskName"):
        if unshown in template:
            template[unshown] = None
    return template


class JsonFormatter(logging.Formatter):
    """One JSON object per line; a traceback, when there is one, is its `traceback` field."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        if record.exc_info:
            fields["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        return scrub(json_line(fields))


class TextFormatter(logging.Formatter):
    """key=value pairs on one line; a traceback follows on lines of its own, indented."""

    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(
            f"{name}={_text_value(value)}" for name, value in record_fields(record).items()
        )
        if record.exc_info:
            line += "\n" + _indented(self.formatException(record.exc_info))
        if record.stack_info:
            line += "\n" + _indented(self.formatStack(record.stack_info))
        return scrub(line)


def _text_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if _BARE.fullmatch(text) and text not in ("null", "true", "false"):
        return text
    # JSON's string escapes: quotes, backslashes and control characters escaped.
    return json.dumps(text)


def _indented(text: str) -> str:
    # Indented, so that a line that starts at the margin is always a record's own.
    return "\n".join(f"    {line}" for line in text.splitlines())
