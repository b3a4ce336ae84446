"""The Redis settings: every OBJMGR_STORE form, OBJMGR_REDIS_*, and no password in any output."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.config import ConfigError, Settings
from app.config_redis import MAX_MIN_REPLICAS, RedisSettings, parse_redis_url
from app.logs import configure_logging
from app.logs.secrets import masked_url, scrub
from app.stores.redis.topology import RedisOptions

SECRET = "pw-Zx8v1Qe2Lk9Pw3Rt"
OTHER_SECRET = "other-Qe2Lk9Pw3Rt"
ENV_EXAMPLE = Path(__file__).resolve().parents[1] / "deploy" / "objmgr.env.example"


def settings(**env: str) -> Settings:
    return Settings.from_env(env)


def refused(**env: str) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    for secret in (SECRET, OTHER_SECRET):
        assert secret not in str(raised.value), "a message never quotes a password"
    return raised.value


# OBJMGR_STORE ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "nodes", "db", "master"),
    [
        ("redis://cache:6379/0", [("cache", 6379)], 0, None),
        ("redis://cache", [("cache", 6379)], 0, None),
        ("redis://10.0.0.7:7000/3", [("10.0.0.7", 7000)], 3, None),
        ("redis://[::1]:6380/1", [("::1", 6380)], 1, None),
        (f"redis://:{SECRET}@cache:6379/0", [("cache", 6379)], 0, None),
        ("rediss://cache.example.com:6380/0", [("cache.example.com", 6380)], 0, None),
        ("redis+cluster://a:7000", [("a", 7000)], 0, None),
        ("redis+cluster://a:7000,b:7001,c:7002/", [("a", 7000), ("b", 7001), ("c", 7002)], 0, None),
        ("redis+sentinel://s1:26379,s2:26379/objmgr", [("s1", 26379), ("s2", 26379)], 0, None),
        ("redis+sentinel://s1:26379/objmgr/2", [("s1", 26379)], 2, "objmgr"),
        ("redis+sentinel://s1,[::1]/objmgr", [("s1", 26379), ("::1", 26379)], 0, "objmgr"),
    ],
)
def test_every_redis_form_of_the_contract_is_taken(
    url: str, nodes: list[tuple[str, int]], db: int, master: str | None
) -> None:
    assert settings(OBJMGR_STORE=url).store == url
    parsed = parse_redis_url(url)
    assert list(parsed.nodes) == nodes and parsed.db == db
    if master is not None:
        assert parsed.master == master


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("redis://", id="no-host"),
        pytest.param("redis:///0", id="no-host-with-db"),
        pytest.param("redis://cache:port/0", id="port-not-a-number"),
        pytest.param("redis://cache:0/0", id="port-zero"),
        pytest.param("redis://cache:65536/0", id="port-too-high"),
        pytest.param("redis://cache:/0", id="port-empty"),
        pytest.param("redis://cache:6379/zero", id="db-not-a-number"),
        pytest.param("redis://cache:6379/-1", id="db-negative"),
        pytest.param("redis://cache:6379/0/1", id="two-dbs"),
        pytest.param("redis://a:1,b:2/0", id="two-hosts-on-one-server"),
        pytest.param("redis://cache:6379/0?ssl_cert_reqs=none", id="a-query"),
        pytest.param("rediss://", id="tls-no-host"),
        pytest.param("redis+cluster://", id="cluster-no-node"),
        pytest.param("redis+cluster://a:1,,b:2", id="cluster-empty-node"),
        pytest.param("redis+cluster://a:1,b:x", id="cluster-bad-port"),
        pytest.param("redis+cluster://a:1/1", id="cluster-db-other-than-0"),
        pytest.param("redis+sentinel:///objmgr", id="sentinel-no-node"),
        pytest.param("redis+sentinel://s1:26379", id="sentinel-no-master"),
        pytest.param("redis+sentinel://s1:26379/", id="sentinel-empty-master"),
        pytest.param("redis+sentinel://s1:26379/objmgr/x", id="sentinel-bad-db"),
        pytest.param("unix:///run/redis.sock", id="unix-not-in-the-contract"),
        pytest.param("redis+other://a:1", id="unknown-redis-scheme"),
    ],
)
def test_a_malformed_store_url_stops_the_start_naming_the_variable(url: str) -> None:
    error = refused(OBJMGR_STORE=url)
    assert error.variable == "OBJMGR_STORE"


@pytest.mark.parametrize(
    "url",
    [
        f"redis://objmgr:{SECRET}@cache:port/0",
        f"rediss://:{SECRET}@/0",
        f"redis+cluster://objmgr:{SECRET}@a:1,b:x",
        f"redis+sentinel://objmgr:{SECRET}@s1:26379",
        f"redis://objmgr:{SECRET}@cache:6379/zero",
        f"redis://:{SECRET}@cache:6379/0?x=1",
    ],
)
def test_a_refused_url_is_quoted_with_its_password_masked(url: str) -> None:
    error = refused(OBJMGR_STORE=url)
    assert "***@" in str(error)


def test_the_list_of_store_forms_names_every_kind() -> None:
    message = str(refused(OBJMGR_STORE="postgres://db/x"))
    for form in ("sqlite:///", "redis://", "rediss://", "redis+cluster://", "redis+sentinel://"):
        assert form in message
    assert "memory://" in message


def test_memory_with_workers_names_every_store_that_can_serve_them() -> None:
    message = str(refused(OBJMGR_STORE="memory://", OBJMGR_WORKERS="2"))
    for form in ("sqlite:///", "redis://", "rediss://", "redis+cluster://", "redis+sentinel://"):
        assert form in message


def test_serve_help_names_every_store_form() -> None:
    text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).output
    flat = " ".join(text.split())
    for form in ("sqlite:///PATH", "rediss://", "redis+cluster://", "redis+sentinel://"):
        assert form in flat
    assert "OBJMGR_REDIS_PASSWORD" in flat


# OBJMGR_REDIS_MIN_REPLICAS -------------------------------------------------------
@pytest.mark.parametrize("value", ["0", "1", str(MAX_MIN_REPLICAS)])
def test_min_replicas_is_a_whole_number_in_range(value: str) -> None:
    chosen = settings(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_MIN_REPLICAS=value)
    assert chosen.redis_options == RedisOptions(min_replicas=int(value))


@pytest.mark.parametrize("value", ["-1", str(MAX_MIN_REPLICAS + 1), "one", "1.5"])
def test_a_bad_min_replicas_is_refused(value: str) -> None:
    error = refused(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_MIN_REPLICAS=value)
    assert error.variable == "OBJMGR_REDIS_MIN_REPLICAS"


def test_default_options_are_none_of_them() -> None:
    assert settings().redis == RedisSettings()
    assert settings(OBJMGR_STORE="redis://cache:6379/0").redis_options == RedisOptions()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OBJMGR_REDIS_MIN_REPLICAS", "1"),
        ("OBJMGR_REDIS_PASSWORD", SECRET),
        ("OBJMGR_REDIS_CA", "/etc/hostname"),
    ],
)
@pytest.mark.parametrize("store", ["memory://", "sqlite:///x.sqlite3"])
def test_redis_settings_without_a_redis_store_are_refused(
    variable: str, value: str, store: str
) -> None:
    error = refused(OBJMGR_STORE=store, OBJMGR_WORKERS="1", **{variable: value})
    assert error.variable == variable
    assert "not a Redis store" in str(error)


# Passwords -------------------------------------------------------------------
def test_the_password_variable_reaches_the_options_and_never_a_repr() -> None:
    chosen = settings(OBJMGR_STORE="redis://objmgr@cache:6379/0", OBJMGR_REDIS_PASSWORD=SECRET)
    assert chosen.redis_options == RedisOptions(password=SECRET)
    assert chosen.redis.password_from == "OBJMGR_REDIS_PASSWORD"
    assert parse_redis_url(chosen.store).user == "objmgr"
    for text in (repr(chosen), str(chosen), repr(chosen.redis)):
        assert SECRET not in text


def test_the_sentinels_password_reaches_the_options_apart_from_the_data_nodes(
    tmp_path: Path,
) -> None:
    store = "redis+sentinel://s1:26379,s2:26379/objmgr/0"
    chosen = settings(
        OBJMGR_STORE=store,
        OBJMGR_REDIS_PASSWORD=SECRET,
        OBJMGR_REDIS_SENTINEL_PASSWORD="s-" + SECRET,
    )
    assert chosen.redis_options == RedisOptions(password=SECRET, sentinel_password="s-" + SECRET)
    assert SECRET not in repr(chosen) and SECRET not in repr(chosen.redis_options)
    path = tmp_path / "sentinel-password"
    path.write_text("from-a-file\n")
    from_file = settings(OBJMGR_STORE=store, OBJMGR_REDIS_SENTINEL_PASSWORD_FILE=str(path))
    assert from_file.redis_options.sentinel_password == "from-a-file"
    both = refused(
        OBJMGR_STORE=store,
        OBJMGR_REDIS_SENTINEL_PASSWORD="x",
        OBJMGR_REDIS_SENTINEL_PASSWORD_FILE=str(path),
    )
    assert both.variable == "OBJMGR_REDIS_SENTINEL_PASSWORD_FILE"
    for other in ("redis://cache:6379/0", "redis+cluster://a:7000"):
        error = refused(OBJMGR_STORE=other, OBJMGR_REDIS_SENTINEL_PASSWORD="x")
        assert error.variable == "OBJMGR_REDIS_SENTINEL_PASSWORD" and "sentinel" in str(error)


def test_a_password_from_the_environment_is_masked_in_every_log_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_PASSWORD=SECRET)
    assert scrub(f"a library quoted {SECRET} in its error") == "a library quoted *** in its error"
    configure_logging(as_json=True)
    capsys.readouterr()
    logging.getLogger("objmgr.test").warning("AUTH %s refused", SECRET)
    written = capsys.readouterr().err
    configure_logging(as_json=False)
    assert "AUTH *** refused" in written and SECRET not in written


@pytest.mark.parametrize("ending", ["", "\n", "\r\n"])
def test_the_password_file_is_read_with_its_line_break_taken_off(
    tmp_path: Path, ending: str
) -> None:
    path = tmp_path / "redis-password"
    path.write_bytes(f"{SECRET}{ending}".encode())
    chosen = settings(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_PASSWORD_FILE=str(path))
    assert chosen.redis_options.password == SECRET
    assert chosen.redis.password_from == "OBJMGR_REDIS_PASSWORD_FILE"
    path.write_text("changed later")
    assert chosen.redis_options.password == SECRET, "read once, at start"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        pytest.param(b"", "is empty", id="empty"),
        pytest.param(b"\n", "is empty", id="a-blank-line"),
        pytest.param(f"{SECRET}\nsecond line\n".encode(), "more than one line", id="two-lines"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-text"),
    ],
)
def test_a_password_file_that_cannot_serve_is_refused(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    path = tmp_path / "redis-password"
    path.write_bytes(content)
    error = refused(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_PASSWORD_FILE=str(path))
    assert error.variable == "OBJMGR_REDIS_PASSWORD_FILE" and problem in str(error)


def test_a_missing_or_unreadable_password_file_is_refused(tmp_path: Path) -> None:
    missing = refused(
        OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_PASSWORD_FILE=str(tmp_path / "none")
    )
    assert missing.variable == "OBJMGR_REDIS_PASSWORD_FILE" and "cannot read" in str(missing)
    # A directory: unreadable as a file whoever runs the test (root reads any file).
    error = refused(OBJMGR_STORE="redis://cache:6379/0", OBJMGR_REDIS_PASSWORD_FILE=str(tmp_path))
    assert error.variable == "OBJMGR_REDIS_PASSWORD_FILE" and "cannot read" in str(error)


def test_password_and_password_file_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "redis-password"
    path.write_text(SECRET)
    error = refused(
        OBJMGR_STORE="redis://cache:6379/0",
        OBJMGR_REDIS_PASSWORD=OTHER_SECRET,
        OBJMGR_REDIS_PASSWORD_FILE=str(path),
    )
    assert error.variable == "OBJMGR_REDIS_PASSWORD_FILE" and "not both" in str(error)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://:{SECRET}@cache:6379/0",
        f"redis://objmgr:{SECRET}@cache:6379/0",
        f"redis+sentinel://objmgr:{SECRET}@s1:26379/objmgr",
    ],
)
def test_a_password_in_the_url_and_in_a_variable_is_ambiguous(url: str) -> None:
    error = refused(OBJMGR_STORE=url, OBJMGR_REDIS_PASSWORD=OTHER_SECRET)
    assert error.variable == "OBJMGR_REDIS_PASSWORD" and "one place" in str(error)


def test_a_user_name_without_any_password_is_refused() -> None:
    error = refused(OBJMGR_STORE=f"redis://{SECRET}@cache:6379/0")
    assert error.variable == "OBJMGR_STORE" and "OBJMGR_REDIS_PASSWORD" in str(error)


# OBJMGR_REDIS_CA -----------------------------------------------------------------
def test_a_ca_for_tls_reaches_the_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    chosen = settings(OBJMGR_STORE="rediss://cache:6380/0", OBJMGR_REDIS_CA=str(ca))
    assert chosen.redis_options == RedisOptions(ca=str(ca))


@pytest.mark.parametrize(
    "store", ["redis://cache:6379/0", "redis+cluster://a:7000", "redis+sentinel://s:26379/objmgr"]
)
def test_a_ca_without_tls_is_refused(tmp_path: Path, store: str) -> None:
    """Only rediss:// speaks TLS: a CA anywhere else would be read by nothing."""
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    error = refused(OBJMGR_STORE=store, OBJMGR_REDIS_CA=str(ca))
    assert error.variable == "OBJMGR_REDIS_CA" and "rediss://" in str(error)


def test_a_ca_that_is_not_a_readable_file_is_refused(tmp_path: Path) -> None:
    for path in (tmp_path / "missing.crt", tmp_path):
        error = refused(OBJMGR_STORE="rediss://cache:6380/0", OBJMGR_REDIS_CA=str(path))
        assert error.variable == "OBJMGR_REDIS_CA" and "readable file" in str(error)


# Masking -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("rediss://objmgr:s3cret@cache:6380/0", "rediss://objmgr:***@cache:6380/0"),
        ("redis+cluster://objmgr:s3cret@a:1,b:2", "redis+cluster://objmgr:***@a:1,b:2"),
        ("redis+cluster://:s3cret@a:1,b:2", "redis+cluster://:***@a:1,b:2"),
        ("redis+sentinel://objmgr:s3cret@s1:1,s2:2/objmgr/0", "redis+sentinel://objmgr:***@s1:1,s2:2/objmgr/0"),
        ("redis+sentinel://s3cret@s1:1/objmgr", "redis+sentinel://***@s1:1/objmgr"),
        ("redis://objmgr:p@ss@w0rd@cache:6379/0", "redis://objmgr:***@cache:6379/0"),
        ("redis://p@ss@cache:6379/0", "redis://***@cache:6379/0"),
        ("redis+cluster://a:1,b:2", "redis+cluster://a:1,b:2"),
        ("redis+sentinel://s1:1,s2:2/objmgr", "redis+sentinel://s1:1,s2:2/objmgr"),
    ],
)  # fmt: skip
def test_every_form_is_logged_with_its_password_masked(url: str, masked: str) -> None:
    assert masked_url(url) == masked
    assert masked_url(f"cannot reach {url} now") == f"cannot reach {masked} now"


def test_the_env_example_documents_every_redis_variable() -> None:
    text = ENV_EXAMPLE.read_text()
    for variable in (
        "OBJMGR_REDIS_PASSWORD=",
        "OBJMGR_REDIS_PASSWORD_FILE=",
        "OBJMGR_REDIS_CA=",
        "OBJMGR_REDIS_MIN_REPLICAS=",
        "OBJMGR_REDIS_SENTINEL_PASSWORD_FILE=",
    ):
        assert f"# {variable}" in text, variable
    for form in ("rediss://", "redis+cluster://", "redis+sentinel://"):
        assert form in text
