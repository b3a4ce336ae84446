"""Bearer secrets: production refuses weak ones, and OBJMGR_TOKENS_FILE can be read again."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from app.api.auth import Authenticator, Unauthenticated, reload_tokens
from app.config import ConfigError, Settings

from .deploy_files import ENV_EXAMPLE, parse_env_file

STRONG = "Zx8v1Qe2Lk9Pw3Rt"  # 16 characters: just long enough
ALICE = "alice-0123456789abcdef"
ROOT = "root-0123456789abcdef"
EXAMPLE_SECRET = parse_env_file(ENV_EXAMPLE.read_text())["OBJMGR_TOKENS"].split(":", 1)[1]


def production(**env: str) -> dict[str, str]:
    return {"OBJMGR_ENV": "production", **env}


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("x", id="one-character"),
        pytest.param(STRONG[:-1], id="15-characters"),
        pytest.param(EXAMPLE_SECRET, id="the-example-file-placeholder"),
        pytest.param("CHANGE-ME-please-0123456789", id="another-placeholder"),
    ],
)
def test_production_refuses_a_weak_secret_naming_the_variable(secret: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(production(OBJMGR_TOKENS=f"admin:{secret}"))
    assert raised.value.variable == "OBJMGR_TOKENS"
    assert secret not in str(raised.value), "the message never quotes a secret"
    assert "'admin'" in str(raised.value), "it names the principal"


def test_production_takes_a_secret_of_16_characters() -> None:
    settings = Settings.from_env(production(OBJMGR_TOKENS=f"admin:{STRONG}"))
    assert settings.auth_on


@pytest.mark.parametrize("env", ["development", "testing", "production"])
def test_two_names_sharing_a_secret_are_refused_in_every_environment(env: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_ENV": env, "OBJMGR_TOKENS": f"alice:{ALICE},bob:{ALICE}"})
    assert raised.value.variable == "OBJMGR_TOKENS"
    assert "'alice'" in str(raised.value) and "'bob'" in str(raised.value)
    assert ALICE not in str(raised.value)


def test_outside_production_a_short_secret_is_allowed() -> None:
    assert Settings.from_env({"OBJMGR_TOKENS": "alice:s3cret"}).auth_on


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_tokens_file_holds_lines_with_comments_and_blanks(tmp_path: Path) -> None:
    path = _write(tmp_path / "tokens", f"# who may ask\n\nalice:{ALICE}\n  root : {ROOT}  \n")
    settings = Settings.from_env(production(OBJMGR_TOKENS_FILE=path, OBJMGR_ADMINS="root"))
    assert set(settings.tokens) == {"alice", "root"}
    assert settings.tokens_file == path
    authenticator = Authenticator(settings)
    assert authenticator.caller(f"Bearer {ROOT}").is_admin
    assert authenticator.caller(f"Bearer {ALICE}").principal == "alice"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("alice\n", "line 1 is not name:secret", id="no-colon"),
        pytest.param(f"# one\nalice:{ALICE}\nbob:\n", "line 3 is not name:secret", id="no-secret"),
        pytest.param(f"alice:{ALICE}\nalice:{ROOT}\n", "given twice", id="a-name-twice"),
        pytest.param(f"alice:{ALICE}\nbob:{ALICE}\n", "share one secret", id="shared"),
        pytest.param("alice:short\n", "shorter than 16", id="short"),
        pytest.param(f"admin:{EXAMPLE_SECRET}\n", "placeholder", id="placeholder"),
        pytest.param("# nothing yet\n\n", "holds no name:secret line", id="empty"),
    ],
)
def test_a_bad_tokens_file_names_its_variable_and_line(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = _write(tmp_path / "tokens", text)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(production(OBJMGR_TOKENS_FILE=path))
    assert raised.value.variable == "OBJMGR_TOKENS_FILE"
    assert problem in str(raised.value)


def test_a_missing_tokens_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_TOKENS_FILE": str(tmp_path / "absent")})
    assert raised.value.variable == "OBJMGR_TOKENS_FILE"
    assert "cannot read" in str(raised.value) and "absent" in str(raised.value)


def test_tokens_and_a_tokens_file_at_once_are_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "tokens", f"alice:{ALICE}\n")
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"OBJMGR_TOKENS": f"root:{ROOT}", "OBJMGR_TOKENS_FILE": path})
    assert raised.value.variable == "OBJMGR_TOKENS_FILE"


def test_a_reload_swaps_the_tokens_and_a_bad_file_keeps_them(tmp_path: Path) -> None:
    # A reload reaches every authenticator of the process: only this test's, once
    # the other tests' are collected.
    gc.collect()
    path = tmp_path / "tokens"
    _write(path, f"alice:{ALICE}\nroot:{ROOT}\n")
    settings = Settings.from_env(production(OBJMGR_TOKENS_FILE=str(path), OBJMGR_ADMINS="root"))
    authenticator = Authenticator(settings)
    rotated = "alice-rotated-0123456789"
    _write(path, f"alice:{rotated}\nroot:{ROOT}\n")

    assert reload_tokens() >= 2
    assert authenticator.caller(f"Bearer {rotated}").principal == "alice"
    with pytest.raises(Unauthenticated):
        authenticator.caller(f"Bearer {ALICE}")

    for bad in ("alice:short\nroot:" + ROOT, f"alice:{rotated}\n"):  # weak; the admin dropped
        _write(path, bad)
        with pytest.raises(ConfigError):
            reload_tokens()
        assert authenticator.caller(f"Bearer {rotated}").principal == "alice"
        assert authenticator.caller(f"Bearer {ROOT}").is_admin


def test_tokens_from_the_environment_cannot_be_reloaded() -> None:
    settings = Settings.from_env({"OBJMGR_TOKENS": f"alice:{ALICE}"})
    with pytest.raises(ConfigError) as raised:
        settings.with_tokens_reloaded()
    assert raised.value.variable == "OBJMGR_TOKENS_FILE"
