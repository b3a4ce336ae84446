"""Settings from the environment, checked once at start.

A bad value stops the start with a `ConfigError` that names the variable;
nothing is guessed.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from .pool.limits import MAX_INT

ENVIRONMENTS = ("development", "production", "testing")
STORE_PREFIXES = ("sqlite:///", "redis://", "memory://")


class ConfigError(ValueError):
    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True)
class Settings:
    store: str = "sqlite:///./var/objmgr.sqlite3"
    pool_size: int = 100
    env: str = "development"
    # principal -> sha256 of its secret; empty means auth is off.
    tokens: Mapping[str, bytes] = field(default_factory=dict)
    admins: frozenset[str] | None = None
    auth_disabled: bool = False
    bind: str = "127.0.0.1:5000"
    workers: int = 2
    max_wait: float = 30.0
    # Limits on every request (the README's "Limits" section).
    max_cost: int = 50_000
    document_cache_mb: int = 32
    body_timeout: float = 10.0
    # A file of name:secret lines, read at start and again on SIGHUP.
    tokens_file: str | None = None

    @property
    def auth_on(self) -> bool:
        return bool(self.tokens) and not self.auth_disabled

    @property
    def graphiql(self) -> bool:
        return self.env != "production"

    @property
    def introspection(self) -> bool:
        return self.env != "production"

    def is_admin(self, principal: str | None) -> bool:
        if not self.auth_on:
            return True
        return principal is not None and self.admins is not None and principal in self.admins

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        settings = cls(
            store=_store(get("OBJMGR_STORE") or cls.store),
            pool_size=_int("OBJMGR_POOL_SIZE", get("OBJMGR_POOL_SIZE"), cls.pool_size, MAX_INT),
            env=_choice("OBJMGR_ENV", get("OBJMGR_ENV"), ENVIRONMENTS, cls.env),
            tokens=_tokens(get("OBJMGR_TOKENS")),
            admins=_admins(get("OBJMGR_ADMINS")),
            auth_disabled=_choice(
                "OBJMGR_AUTH", get("OBJMGR_AUTH"), ("enabled", "disabled"), "enabled"
            )
            == "disabled",
            bind=_bind(get("OBJMGR_BIND") or cls.bind),
            workers=_int("OBJMGR_WORKERS", get("OBJMGR_WORKERS"), cls.workers, 64),
            max_wait=_seconds("OBJMGR_MAX_WAIT", get("OBJMGR_MAX_WAIT"), cls.max_wait),
            max_cost=_int("OBJMGR_MAX_COST", get("OBJMGR_MAX_COST"), cls.max_cost, 10**9),
            document_cache_mb=_int(
                "OBJMGR_DOCUMENT_CACHE_MB",
                get("OBJMGR_DOCUMENT_CACHE_MB"),
                cls.document_cache_mb,
                1024,
            ),
            body_timeout=_seconds(
                "OBJMGR_BODY_TIMEOUT", get("OBJMGR_BODY_TIMEOUT"), cls.body_timeout
            ),
            tokens_file=get("OBJMGR_TOKENS_FILE"),
        )
        settings.check_serving()
        return settings

    def check_serving(self) -> None:
        """The combinations that would serve unsafely."""
        if self.env == "production" and not self.tokens and not self.auth_disabled:
            raise ConfigError(
                "OBJMGR_TOKENS",
                "production needs bearer tokens (name:secret,...); "
                "set OBJMGR_AUTH=disabled to serve without auth on purpose",
            )
        if self.store == "memory://" and self.workers > 1:
            raise ConfigError(
                "OBJMGR_WORKERS",
                f"the memory:// store lives in one process, so it cannot serve "
                f"{self.workers} workers (each would hand out the same objects); "
                "use OBJMGR_WORKERS=1 or a sqlite:/// or redis:// store",
            )
        unknown = (self.admins or frozenset()) - set(self.tokens)
        if self.auth_on and unknown:
            raise ConfigError(
                "OBJMGR_ADMINS", f"names principals with no token: {', '.join(sorted(unknown))}"
            )


def _store(value: str) -> str:
    if value == "memory://":
        return value
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if value.startswith("redis://") and len(value) > len("redis://"):
        return value
    raise ConfigError(
        "OBJMGR_STORE",
        f"{value!r} is not sqlite:///PATH, redis://HOST:PORT/DB or memory://",
    )


def _int(name: str, value: str | None, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a whole number") from None
    if not 1 <= number <= maximum:
        raise ConfigError(name, f"must be between 1 and {maximum}, got {number}")
    return number


def _seconds(name: str, value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(name, f"{value!r} is not a number of seconds") from None
    if not math.isfinite(number) or number < 0 or number > 3600:
        raise ConfigError(name, f"must be between 0 and 3600 seconds, got {value}")
    return number


def _choice(name: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _tokens(value: str | None) -> dict[str, bytes]:
    tokens: dict[str, bytes] = {}
    for position, entry in enumerate((value or "").split(","), start=1):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, secret = entry.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret:
            raise ConfigError("OBJMGR_TOKENS", f"entry {position} is not name:secret")
        if name in tokens:
            raise ConfigError("OBJMGR_TOKENS", f"principal {name!r} is given twice")
        tokens[name] = hashlib.sha256(secret.encode()).digest()
    return tokens


def _admins(value: str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _bind(value: str) -> str:
    if value.startswith("unix:"):
        return value
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("OBJMGR_BIND", f"{value!r} is not HOST:PORT or unix:PATH")
    return value
