"""`Cli`: the `objmgr` command run in-process against a live server, for the CLI's tests."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner, Result

from app.cli import main


class Cli:
    def __init__(self, url: str, token: str | None = None) -> None:
        self.env: dict[str, str | None] = {"OBJMGR_URL": url, "OBJMGR_TOKEN": token}

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(main, list(args), env=self.env)

    def ok(self, *args: str) -> str:
        result = self(*args)
        assert result.exit_code == 0, (result.exit_code, result.output)
        assert result.stderr == ""
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok("--json", *args))

    def refused(self, *args: str, status: int = 1) -> str:
        result = self(*args)
        assert result.exit_code == status, (result.exit_code, result.output)
        assert result.stdout == ""
        return result.stderr.strip()
