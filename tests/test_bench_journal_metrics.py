"""The journal-and-metrics benchmark's machinery: another tree of the project checked out as
a git worktree, served with its own code, and gone from git's list afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.journal_metrics import worktree
from bench.servers import StoreRun, http_json, serving_tree
from tests.support.gunicorn import ROOT


def registered_worktrees() -> list[Path]:
    listing = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [
        Path(line.removeprefix("worktree ")).resolve()
        for line in listing.splitlines()
        if line.startswith("worktree ")
    ]


def test_the_worktree_is_checked_out_then_removed_and_unregistered(tmp_path: Path) -> None:
    path = (tmp_path / "tree").resolve()

    with worktree("HEAD", path) as tree:
        assert (tree / "app" / "__init__.py").is_file()
        assert path in registered_worktrees()

    assert not path.exists()
    assert path not in registered_worktrees()


def test_a_tree_is_served_with_its_own_code_not_the_checkouts(tmp_path: Path) -> None:
    with worktree("HEAD", tmp_path / "tree") as tree:
        # A mark only the tree's code carries.
        (tree / "app" / "version.py").write_text('__version__ = "0.0.0+tree"\n')
        store = StoreRun("sqlite-tree", f"sqlite:///{tmp_path / 'objmgr.sqlite3'}", 1)

        with serving_tree(store, tmp_path, tree) as server:
            assert http_json(server.url + "/version") == {"version": "0.0.0+tree"}
            answer = http_json(server.url + "/graphql", {"query": "{ version }"})
            assert answer == {"data": {"version": "0.0.0+tree"}}
