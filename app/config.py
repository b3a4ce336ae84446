"""Settings from the environment, checked once at start.

A bad value stops the start with a `ConfigError` that names the variable;
nothing is guessed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from .config_redis import RedisConfigError, RedisSettings, check_store, redis_settings
from .pool.events import DEFAULT_EVENTS_KEEP
from .pool.limits import MAX_INT

if TYPE_CHECKING:
    from .stores.redis.topology import RedisOptions

ENVIRONMENTS = ("development", "production", "testing")
LOG_FORMATS = ("json", "text")
D = TypeVar("D", str, None)

MIN_SECRET_LENGTH = 16
# The example files' placeholders: a copied example must not serve with a secret
# anyone can read in the repository.
PLACEHOLDER_SECRETS = frozenset({"change-me-to-a-long-random-secret"})
PLACEHOLDER_MARKS = ("change-me", "changeme", "replace-me", "replaceme")
MAKE_A_SECRET = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


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
    # The journal keeps at least this many events per pool.
    events_keep: int = DEFAULT_EVENTS_KEEP
    # sha256 of the bearer secret /metrics requires; None: /metrics is open.
    metrics_token: bytes | None = None
    # "json" or "text"; None: json in production, else text.
    log_format: str | None = None
    # Open subscriptions a worker serves at once, and of them one principal's.
    max_subscriptions: int = 4000
    max_subscriptions_per_principal: int = 1000
    # OBJMGR_REDIS_*: its repr leaves the password out.
    redis: RedisSettings = field(default_factory=RedisSettings)

    @property
    def auth_on(self) -> bool:
        return bool(self.tokens) and not self.auth_disabled

    @property
    def logs_as_json(self) -> bool:
        if self.log_format is None:
            return self.env == "production"
        return self.log_format == "json"

    @property
    def redis_options(self) -> RedisOptions:
        """How the Redis store reaches Redis beyond its URL (`RedisStore(options=...)`)."""
        return self.redis.options()

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

        environment = _choice("OBJMGR_ENV", get("OBJMGR_ENV"), ENVIRONMENTS, cls.env)
        tokens_file = get("OBJMGR_TOKENS_FILE")
        if tokens_file is not None and get("OBJMGR_TOKENS") is not None:
            raise ConfigError(
                "OBJMGR_TOKENS_FILE", "set OBJMGR_TOKENS or OBJMGR_TOKENS_FILE, not both"
            )
        production = environment == "production"
        if tokens_file is not None:
            tokens = read_tokens_file(tokens_file, production=production)
        else:
            tokens = _tokens(get("OBJMGR_TOKENS"), production=production)
        store = _store(get("OBJMGR_STORE") or cls.store)
        settings = cls(
            store=store,
            pool_size=_int("OBJMGR_POOL_SIZE", get("OBJMGR_POOL_SIZE"), cls.pool_size, MAX_INT),
            env=environment,
            tokens=tokens,
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
            body_timeout=_positive_seconds(
                "OBJMGR_BODY_TIMEOUT", get("OBJMGR_BODY_TIMEOUT"), cls.body_timeout
            ),
            tokens_file=tokens_file,
            events_keep=_int(
                "OBJMGR_EVENTS_KEEP", get("OBJMGR_EVENTS_KEEP"), cls.events_keep, 10**8
            ),
            metrics_token=_metrics_token(get("OBJMGR_METRICS_TOKEN"), production),
            log_format=_choice("OBJMGR_LOG_FORMAT", get("OBJMGR_LOG_FORMAT"), LOG_FORMATS, None),
            max_subscriptions=_int(
                "OBJMGR_MAX_SUBSCRIPTIONS",
                get("OBJMGR_MAX_SUBSCRIPTIONS"),
                cls.max_subscriptions,
                10**6,
            ),
            max_subscriptions_per_principal=_int(
                "OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL",
                get("OBJMGR_MAX_SUBSCRIPTIONS_PER_PRINCIPAL"),
                cls.max_subscriptions_per_principal,
                10**6,
            ),
            redis=_redis(get, store),
        )
        settings.check_serving()
        return settings

    def with_tokens_reloaded(self) -> Settings:
        """These settings with the tokens read again from `OBJMGR_TOKENS_FILE`.

        Raises `ConfigError` when the file cannot serve (the caller keeps the
        tokens it has): unreadable, empty, a bad line, a weak secret in
        production, or an admin left without a token.
        """
        if self.tokens_file is None:
            raise ConfigError(
                "OBJMGR_TOKENS_FILE",
                "is not set: tokens from OBJMGR_TOKENS change only with a restart",
            )
        tokens = read_tokens_file(self.tokens_file, production=self.env == "production")
        settings = dataclasses.replace(self, tokens=tokens)
        settings.check_serving()
        return settings

    def check_serving(self) -> None:
        """The combinations that would serve unsafely."""
        if self.env == "production" and not self.tokens and not self.auth_disabled:
            raise ConfigError(
                "OBJMGR_TOKENS_FILE" if self.tokens_file else "OBJMGR_TOKENS",
                "production needs bearer tokens (name:secret,...); "
                "set OBJMGR_AUTH=disabled to serve without auth on purpose",
            )
        if self.store == "memory://" and self.workers > 1:
            raise ConfigError(
                "OBJMGR_WORKERS",
                f"the memory:// store lives in one process, so it cannot serve "
                f"{self.workers} workers (each would hand out the same objects); "
                "use OBJMGR_WORKERS=1 or a sqlite:///, redis://, rediss://, "
                "redis+cluster:// or redis+sentinel:// store",
            )
        unknown = (self.admins or frozenset()) - set(self.tokens)
        if self.auth_on and unknown:
            raise ConfigError(
                "OBJMGR_ADMINS", f"names principals with no token: {', '.join(sorted(unknown))}"
            )


# The settings this process serves with, when the gunicorn master checked them
# before it forked this worker (`set_serving_settings`): a worker respawned after
# a tokens file went bad on reload serves the tokens the master kept, instead of
# failing to boot (which makes gunicorn stop the whole service).
_serving: Settings | None = None


def set_serving_settings(settings: Settings) -> None:
    global _serving
    _serving = settings


def serving_settings() -> Settings:
    """The master's checked settings when there are some, else the environment's now."""
    return _serving if _serving is not None else Settings.from_env()


def read_tokens_file(path: str, production: bool) -> dict[str, bytes]:
    """The tokens of a file of `name:secret` lines (`#` comments and blank lines allowed)."""
    try:
        with open(path, "rb") as file:
            raw = file.read(1024 * 1024 + 1)
    except OSError as error:
        raise ConfigError("OBJMGR_TOKENS_FILE", f"cannot read {path}: {error.strerror}") from None
    if len(raw) > 1024 * 1024:
        raise ConfigError("OBJMGR_TOKENS_FILE", f"{path} is larger than 1 MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError("OBJMGR_TOKENS_FILE", f"{path} is not UTF-8 text") from None
    entries = [
        (f"line {number}", line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.strip().startswith("#")
    ]
    tokens = _parse_tokens("OBJMGR_TOKENS_FILE", entries, production)
    if not tokens:
        # An emptied file must not turn auth off behind the operator's back.
        raise ConfigError("OBJMGR_TOKENS_FILE", f"{path} holds no name:secret line")
    return tokens


def _store(value: str) -> str:
    try:
        return check_store(value)
    except RedisConfigError as error:
        raise ConfigError(error.variable, error.problem) from None


def _redis(get: Callable[[str], str | None], store: str) -> RedisSettings:
    try:
        return redis_settings(get, store)
    except RedisConfigError as error:
        raise ConfigError(error.variable, error.problem) from None


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


def _positive_seconds(name: str, value: str | None, default: float) -> float:
    number = _seconds(name, value, default)
    if number <= 0:
        raise ConfigError(name, f"must be more than 0 seconds, got {value}")
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


def _choice(name: str, value: str | None, choices: tuple[str, ...], default: D) -> str | D:
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(name, f"{value!r} is not one of {', '.join(choices)}")
    return value


def _tokens(value: str | None, production: bool) -> dict[str, bytes]:
    entries = [
        (f"entry {position}", entry.strip())
        for position, entry in enumerate((value or "").split(","), start=1)
        if entry.strip()
    ]
    return _parse_tokens("OBJMGR_TOKENS", entries, production)


def _parse_tokens(
    variable: str, entries: Iterable[tuple[str, str]], production: bool
) -> dict[str, bytes]:
    """principal -> sha256 of its secret; a message never quotes a secret."""
    tokens: dict[str, bytes] = {}
    owners: dict[bytes, str] = {}
    for where, entry in entries:
        name, sep, secret = entry.partition(":")
        name, secret = name.strip(), secret.strip()
        if not sep or not name or not secret:
            raise ConfigError(variable, f"{where} is not name:secret")
        if name in tokens:
            raise ConfigError(variable, f"principal {name!r} is given twice")
        digest = hashlib.sha256(secret.encode()).digest()
        if digest in owners:
            # Whoever sends it would be taken for one of the two, whichever came last.
            raise ConfigError(
                variable,
                f"principals {owners[digest]!r} and {name!r} share one secret; "
                f"give each its own ({MAKE_A_SECRET})",
            )
        if production:
            _check_strength(variable, where, name, secret)
        tokens[name] = digest
        owners[digest] = name
    return tokens


def _check_strength(variable: str, where: str, name: str, secret: str) -> None:
    lowered = secret.lower()
    if secret in PLACEHOLDER_SECRETS or any(mark in lowered for mark in PLACEHOLDER_MARKS):
        raise ConfigError(
            variable,
            f"{where}: the secret of {name!r} is the example's placeholder; "
            f"make one of your own ({MAKE_A_SECRET})",
        )
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            variable,
            f"{where}: the secret of {name!r} is shorter than {MIN_SECRET_LENGTH} characters; "
            f"production needs long random secrets ({MAKE_A_SECRET})",
        )


def _metrics_token(value: str | None, production: bool) -> bytes | None:
    """sha256 of the /metrics secret; held to the bearer tokens' rules in production."""
    if value is None:
        return None
    if production:
        _check_strength("OBJMGR_METRICS_TOKEN", "the value", "/metrics", value)
    return hashlib.sha256(value.encode()).digest()


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
