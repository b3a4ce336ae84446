"""Settings from the environment: defaults, and a named variable for every bad value."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings


def test_the_defaults_serve_sqlite_on_loopback_without_auth() -> None:
    settings = Settings.from_env({})
    assert settings.store == "sqlite:///./var/objmgr.sqlite3"
    assert (settings.pool_size, settings.env, settings.bind) == (
        100,
        "development",
        "127.0.0.1:5000",
    )
    assert (settings.workers, settings.max_wait) == (2, 30.0)
    assert not settings.auth_on and settings.is_admin(None)
    assert settings.graphiql and settings.introspection


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OBJMGR_STORE", "postgres://db/x"),
        ("OBJMGR_STORE", "sqlite:///"),
        ("OBJMGR_POOL_SIZE", "abc"),
        ("OBJMGR_POOL_SIZE", "0"),
        ("OBJMGR_POOL_SIZE", "2147483648"),
        ("OBJMGR_ENV", "staging"),
        ("OBJMGR_TOKENS", "nocolon"),
        ("OBJMGR_TOKENS", "alice:"),
        ("OBJMGR_TOKENS", "a:1,a:2"),
        ("OBJMGR_AUTH", "off"),
        ("OBJMGR_BIND", "localhost"),
        ("OBJMGR_BIND", "127.0.0.1:99999"),
        ("OBJMGR_WORKERS", "0"),
        ("OBJMGR_WORKERS", "two"),
        ("OBJMGR_MAX_WAIT", "-1"),
        ("OBJMGR_MAX_WAIT", "nan"),
        ("OBJMGR_BODY_TIMEOUT", "0"),
        ("OBJMGR_BODY_TIMEOUT", "soon"),
        ("OBJMGR_BODY_TIMEOUT", "3601"),
        ("OBJMGR_TOKENS", "alice:same-secret,bob:same-secret"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({variable: value})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")


def test_a_token_secret_never_shows_in_the_error() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_TOKENS": "alice:ok,hunter2-secret"})
    assert "hunter2" not in str(raised.value)


def test_production_needs_tokens_or_an_explicit_opt_out() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_ENV": "production"})
    assert raised.value.variable == "OBJMGR_TOKENS"
    opted_out = Settings.from_env({"OBJMGR_ENV": "production", "OBJMGR_AUTH": "disabled"})
    assert not opted_out.auth_on
    assert not opted_out.graphiql and not opted_out.introspection


def test_the_body_timeout_is_ten_seconds_unless_set() -> None:
    assert Settings.from_env({}).body_timeout == 10.0
    assert Settings.from_env({"OBJMGR_BODY_TIMEOUT": "1.5"}).body_timeout == 1.5


def test_the_memory_store_refuses_more_than_one_worker() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_STORE": "memory://"})
    assert raised.value.variable == "OBJMGR_WORKERS"
    assert Settings.from_env({"OBJMGR_STORE": "memory://", "OBJMGR_WORKERS": "1"}).workers == 1


def test_tokens_turn_auth_on_and_admins_come_from_their_list() -> None:
    settings = Settings.from_env(
        {"OBJMGR_TOKENS": "alice:s3cret, root:r00t", "OBJMGR_ADMINS": "root"}
    )
    assert settings.auth_on
    assert set(settings.tokens) == {"alice", "root"}
    assert settings.is_admin("root") and not settings.is_admin("alice")
    assert not settings.is_admin(None)


def test_admins_must_have_tokens() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_TOKENS": "alice:s3cret", "OBJMGR_ADMINS": "root"})
    assert raised.value.variable == "OBJMGR_ADMINS"


def test_with_auth_on_and_no_admins_nobody_administers_pools() -> None:
    settings = Settings.from_env({"OBJMGR_TOKENS": "alice:s3cret"})
    assert not settings.is_admin("alice")
