"""What a Redis store URL names: its form, nodes, ACL user, password, DB and Sentinel primary.

The forms (the contract's `OBJMGR_STORE`):

    redis://[USER[:PASSWORD]@]HOST[:PORT][/DB]
    rediss://…                                    the same, over TLS
    redis+cluster://[USER[:PASSWORD]@]H:P[,H:P…]  nodes to read the slot map from
    redis+sentinel://[USER[:PASSWORD]@]H:P[,H:P…]/MASTER[/DB]

A host is a name, an IPv4 address or a bracketed IPv6 address; the port
defaults to 6379 (26379 for a Sentinel). No `?query` or `#fragment`: redis-py
would take settings from one behind every check (`ssl_cert_reqs=none`), and
objmgr's settings are the `OBJMGR_REDIS_*` variables.

Plain parsing, without redis-py: the settings check a URL with it at start
(`config_redis.py`, in the gunicorn master too), and the topologies read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

SINGLE_SCHEMES = ("redis://", "rediss://")
CLUSTER_SCHEME = "redis+cluster://"
SENTINEL_SCHEME = "redis+sentinel://"
REDIS_SCHEMES = (*SINGLE_SCHEMES, CLUSTER_SCHEME, SENTINEL_SCHEME)
DEFAULT_PORT = 6379
DEFAULT_SENTINEL_PORT = 26379
#: Redis' own cap is configurable; five digits is already far past any server's.
_MAX_DB_DIGITS = 5

_NODE = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\s:/,\[\]@?#]+)(?::(?P<port>[^,]*))?")


class BadRedisUrl(ValueError):
    """A URL that is none of the forms; `problem` says what is wrong, never the password."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


@dataclass(frozen=True)
class RedisUrl:
    """The parts of a Redis store URL."""

    scheme: str
    nodes: tuple[tuple[str, int], ...]
    user: str | None
    password: str | None = field(repr=False)
    db: int
    #: The primary's name, for redis+sentinel:// only.
    master: str | None = None

    @property
    def tls(self) -> bool:
        return self.scheme == "rediss://"

    @property
    def has_password(self) -> bool:
        return bool(self.password)


def parse_redis_url(url: str) -> RedisUrl:
    """The parts of `url`, one of REDIS_SCHEMES' forms; `BadRedisUrl` otherwise."""
    scheme = next(
        (s for s in (CLUSTER_SCHEME, SENTINEL_SCHEME, *SINGLE_SCHEMES) if url.startswith(s)), None
    )
    if scheme is None:
        raise BadRedisUrl(f"is none of {', '.join(REDIS_SCHEMES)}")
    rest = url[len(scheme) :]
    if "?" in rest or "#" in rest:
        raise BadRedisUrl(
            "takes no ?query or #fragment; settings go in the OBJMGR_REDIS_* variables"
        )
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    user = password = None
    if at:
        name, colon, secret = userinfo.partition(":")
        user = unquote(name) or None
        password = unquote(secret) if colon and secret else None
    port = DEFAULT_SENTINEL_PORT if scheme == SENTINEL_SCHEME else DEFAULT_PORT
    nodes = tuple(_node(part, port) for part in hosts.split(",")) if hosts else ()
    if not nodes:
        raise BadRedisUrl("names no host")
    segments = path.split("/") if path else []
    master: str | None = None
    if scheme == SENTINEL_SCHEME:
        if not segments or not segments[0]:
            raise BadRedisUrl("names no master: redis+sentinel://H:P[,H:P...]/MASTER[/DB]")
        master = unquote(segments.pop(0))
    elif scheme in SINGLE_SCHEMES and len(nodes) > 1:
        raise BadRedisUrl(f"names {len(nodes)} hosts; one server has one (or use redis+cluster://)")
    db = _db(segments)
    if scheme == CLUSTER_SCHEME and db != 0:
        raise BadRedisUrl("a Redis Cluster has only database 0")
    return RedisUrl(scheme, nodes, user, password, db, master)


def _node(text: str, default_port: int) -> tuple[str, int]:
    match = _NODE.fullmatch(text)
    if match is None:
        raise BadRedisUrl(f"{text!r} is not HOST:PORT")
    host, port = match.group("host").strip("[]"), match.group("port")
    if port is None:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise BadRedisUrl(f"{port!r} is not a port (1-65535)")
    return host, int(port)


def _db(segments: list[str]) -> int:
    if not segments or segments == [""]:
        return 0
    if len(segments) > 1:
        raise BadRedisUrl(f"{'/'.join(segments)!r} is not a database number")
    (db,) = segments
    if not db.isdigit() or len(db) > _MAX_DB_DIGITS:
        raise BadRedisUrl(f"{db!r} is not a database number")
    return int(db)
