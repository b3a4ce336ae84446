"""The Redis part of the settings: the `OBJMGR_STORE` URL forms and `OBJMGR_REDIS_*`.

Every store URL is checked here at start, so a malformed one stops the start
with a message naming `OBJMGR_STORE` (the URL quoted with its password masked),
rather than failing later inside redis-py. The password can stay out of the
URL: `OBJMGR_REDIS_PASSWORD` or `OBJMGR_REDIS_PASSWORD_FILE`, with the ACL user
name, when there is one, in the URL (`redis://objmgr@cache:6379/0`). The
Sentinels' own password, when they have one (`requirepass` in sentinel.conf),
is `OBJMGR_REDIS_SENTINEL_PASSWORD` or `OBJMGR_REDIS_SENTINEL_PASSWORD_FILE`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .logs.secrets import masked_url, never_log
from .stores import redis_url
from .stores.redis_url import REDIS_SCHEMES, RedisUrl

if TYPE_CHECKING:
    from .stores.redis.topology import RedisOptions

STORE_FORMS = (
    "sqlite:///PATH",
    "redis://HOST:PORT/DB",
    "rediss://HOST:PORT/DB",
    "redis+cluster://H:P[,H:P...]",
    "redis+sentinel://H:P[,H:P...]/MASTER[/DB]",
    "memory://",
)
#: WAIT can ask for any number; past this many a typo is likelier than a topology.
MAX_MIN_REPLICAS = 16
MAX_PASSWORD_FILE = 64 * 1024


class RedisConfigError(ValueError):
    """A bad Redis setting; `app.config` raises it as its `ConfigError`."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(problem)
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True)
class RedisSettings:
    """`OBJMGR_REDIS_*`; the password never appears in a repr or a message."""

    password: str | None = field(default=None, repr=False)
    #: Which variable gave the password (None: none, or the URL's own).
    password_from: str | None = None
    ca: str | None = None
    min_replicas: int = 0
    sentinel_password: str | None = field(default=None, repr=False)

    def options(self) -> RedisOptions:
        """The store's `RedisOptions` (imported here: the gunicorn master never loads redis-py)."""
        from .stores.redis.topology import RedisOptions

        return RedisOptions(
            password=self.password,
            ca=self.ca,
            min_replicas=self.min_replicas,
            sentinel_password=self.sentinel_password,
        )


def check_store(value: str) -> str:
    """`value` when it is one of `STORE_FORMS`; else a `RedisConfigError` on OBJMGR_STORE."""
    if value == "memory://":
        return value
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if value.startswith(REDIS_SCHEMES):
        parse_redis_url(value)
        return value
    raise RedisConfigError(
        "OBJMGR_STORE", f"{masked_url(value)!r} is not one of {', '.join(STORE_FORMS)}"
    )


def parse_redis_url(url: str) -> RedisUrl:
    """The parts of a Redis store URL; a `RedisConfigError` on OBJMGR_STORE naming what is wrong."""
    try:
        return redis_url.parse_redis_url(url)
    except redis_url.BadRedisUrl as error:
        raise RedisConfigError("OBJMGR_STORE", f"{masked_url(url)!r}: {error.problem}") from None


def redis_settings(get: Callable[[str], str | None], store: str) -> RedisSettings:
    """`OBJMGR_REDIS_*` for `store` (checked already), read once; refused when ambiguous."""
    redis_store = store.startswith(REDIS_SCHEMES)
    url = parse_redis_url(store) if redis_store else None
    password, password_from = _password(get, "OBJMGR_REDIS_PASSWORD")
    sentinel_password, sentinel_password_from = _password(get, "OBJMGR_REDIS_SENTINEL_PASSWORD")
    ca = get("OBJMGR_REDIS_CA")
    min_replicas = _min_replicas(get("OBJMGR_REDIS_MIN_REPLICAS"))
    given = [
        name
        for name, value in (
            (password_from, password),
            (sentinel_password_from, sentinel_password),
            ("OBJMGR_REDIS_CA", ca),
            ("OBJMGR_REDIS_MIN_REPLICAS", min_replicas or None),
        )
        if name is not None and value is not None
    ]
    if url is None:
        if given:
            raise RedisConfigError(given[0], "is set, but OBJMGR_STORE is not a Redis store")
        return RedisSettings()
    if password is not None and url.has_password:
        raise RedisConfigError(
            str(password_from),
            "is set and OBJMGR_STORE holds a password too: keep it in one place "
            "(the URL may name the ACL user: redis://USER@HOST:PORT/DB)",
        )
    if url.user is not None and not url.has_password and password is None:
        # redis-py takes redis://NAME@host as a user name without a password,
        # which Redis refuses; an old-style URL with the password there reads alike.
        raise RedisConfigError(
            "OBJMGR_STORE",
            f"{masked_url(store)!r} names a user and no password: set OBJMGR_REDIS_PASSWORD "
            "or OBJMGR_REDIS_PASSWORD_FILE (or write redis://:PASSWORD@... for no user)",
        )
    if sentinel_password is not None and url.master is None:
        raise RedisConfigError(
            str(sentinel_password_from), "is set, but OBJMGR_STORE is not redis+sentinel://"
        )
    if ca is not None:
        _check_ca(ca, url)
    for secret in (password, sentinel_password):
        if secret is not None:
            never_log(secret)
    return RedisSettings(password, password_from, ca, min_replicas, sentinel_password)


def _password(get: Callable[[str], str | None], variable: str) -> tuple[str | None, str | None]:
    """The password `variable` or `variable`_FILE gives, and which of them gave it."""
    from_file = f"{variable}_FILE"
    direct, path = get(variable), get(from_file)
    if direct is not None and path is not None:
        raise RedisConfigError(from_file, f"set {variable} or {from_file}, not both")
    if direct is not None:
        return direct, variable
    if path is not None:
        return read_password_file(path, from_file), from_file
    return None, None


def read_password_file(path: str, variable: str = "OBJMGR_REDIS_PASSWORD_FILE") -> str:
    """The password a file holds, its trailing line break taken off; never quoted."""
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_PASSWORD_FILE + 1)
    except OSError as error:
        raise RedisConfigError(variable, f"cannot read {path}: {error.strerror}") from None
    if len(raw) > MAX_PASSWORD_FILE:
        raise RedisConfigError(variable, f"{path} is larger than {MAX_PASSWORD_FILE} bytes")
    try:
        password = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise RedisConfigError(variable, f"{path} is not UTF-8 text") from None
    if not password.strip():
        raise RedisConfigError(variable, f"{path} is empty")
    if "\n" in password or "\r" in password:
        raise RedisConfigError(variable, f"{path} holds more than one line")
    return password


def _min_replicas(value: str | None) -> int:
    if value is None:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise RedisConfigError(
            "OBJMGR_REDIS_MIN_REPLICAS", f"{value!r} is not a whole number"
        ) from None
    if not 0 <= number <= MAX_MIN_REPLICAS:
        raise RedisConfigError(
            "OBJMGR_REDIS_MIN_REPLICAS", f"must be between 0 and {MAX_MIN_REPLICAS}, got {number}"
        )
    return number


def _check_ca(path: str, url: RedisUrl) -> None:
    if not url.tls:
        # Nothing would read it: the operator meant TLS, and would get none.
        # Only rediss:// speaks TLS (the contract has no TLS Cluster or Sentinel form).
        raise RedisConfigError(
            "OBJMGR_REDIS_CA",
            f"is set, but {url.scheme} has no TLS here: use rediss://HOST:PORT/DB for TLS",
        )
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise RedisConfigError("OBJMGR_REDIS_CA", f"{path} is not a readable file")
