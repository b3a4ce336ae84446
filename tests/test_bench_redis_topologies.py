"""bench.redis_topologies at the smallest counts it takes: its topologies start, its table has
a row per variant and load, the ratios, the command and the machine are printed, and its
accounting passes; and that accounting fails when the store holds less than was answered.
Its speed is not checked."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.redis_topologies import account, main
from bench.servers import StoreRun, serving
from bench.topology_runs import MODE_LABELS, MODES, Variant, create_pools, measure_into

POOLS = 3
SMALLEST = [
    "--pools",
    str(POOLS),
    "--rounds",
    "1",
    "--duration",
    "1",
    "--warmup",
    "1",
    "--threads",
    "1",
    "--connections",
    "2",
]
VARIANT_LABELS = (
    "single redis",
    "cluster, 3 shards",
    "pair, MIN_REPLICAS=0",
    "pair, MIN_REPLICAS=1",
)

needs_tools = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("wrk", "redis-server", "redis-cli")),
    reason="wrk, redis-server and redis-cli are needed (make system-deps)",
)


@dataclass(frozen=True)
class BenchRun:
    status: int
    out: str
    err: str


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    out, err = io.StringIO(), io.StringIO()
    scratch = tmp_path_factory.mktemp("bench-redis")
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*SMALLEST, "--tmpdir", str(scratch)])
    return BenchRun(status, out.getvalue(), err.getvalue())


@needs_tools
def test_the_run_passes_its_checks(bench_run: BenchRun) -> None:
    assert bench_run.status == 0, bench_run.out + bench_run.err
    assert "CHECK FAILED" not in bench_run.err
    accounted = re.findall(r"^  accounting (\w+): .*: ok$", bench_run.out, re.MULTILINE)
    assert accounted == ["single", "cluster", "min0", "min1"]


@needs_tools
def test_the_table_has_a_row_per_variant_and_load(bench_run: BenchRun) -> None:
    rows = [
        line
        for line in bench_run.out.splitlines()
        if line.startswith(VARIANT_LABELS) and not line.startswith("variant")
    ]
    expected = [(label, MODE_LABELS[mode]) for label in VARIANT_LABELS for mode in MODES]
    assert [(row[:22].strip(), row[23:36].strip()) for row in rows] == expected
    for row in rows:
        # req/s, rounds min..max, p50, p99, CPU, Redis CPU, non-2xx 0, bad bodies 0
        numbers = row[36:].split()
        assert len(numbers) == 8, row
        assert numbers[-2:] == ["0", "0"], row


@needs_tools
def test_the_ratios_the_command_and_the_machine_are_printed(bench_run: BenchRun) -> None:
    out = bench_run.out
    assert re.search(r"^cluster/single req/s: acquire\+free [\d.]+.*, acquire [\d.]+", out, re.M)
    assert re.search(r"^min1/min0 req/s: acquire\+free [\d.]+.*, acquire [\d.]+", out, re.M)
    assert re.search(r"^acquire p50 [\d.]+ -> [\d.]+ ms, p99 [\d.]+ -> [\d.]+ ms", out, re.M)
    assert re.search(r"^command: .* -m bench\.redis_topologies --pools 3 ", out, re.M)
    assert re.search(r"machine: \d+ cores .* redis-server \d+\.\d+", out)


@needs_tools
def test_the_pools_are_spread_evenly_over_the_shards(bench_run: BenchRun) -> None:
    shards = re.findall(
        r"cluster primary 127\.0\.0\.1:(\d+) serves pools (.*)$", bench_run.out, re.M
    )
    assert len({port for port, _ in shards}) == 3
    assert [len(pools.split(", ")) for _, pools in shards] == [POOLS // 3] * 3


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is needed (make system-deps)")
def test_the_accounting_fails_when_the_store_holds_less_than_was_answered(
    tmp_path: Path,
) -> None:
    args = argparse.Namespace(threads=1, connections=2, warmup=1)
    store = StoreRun("memory", "memory://", 1)
    with serving(store, tmp_path) as server:
        variant = Variant("memory", "memory", store, ["a1", "a2"])
        create_pools(server, variant.pools)
        for mode in MODES:
            measure_into(variant, server, mode, args, 1)
        assert account(variant, server, args) == []
        seen = variant.seen("acquired")
        assert all(count > 0 for count in seen.values())

        # More acquires answered than any request still in flight could explain.
        slack = args.connections * (len(variant.all_runs) + 1)
        claimed = dataclasses.replace(
            variant.all_runs[-1],
            acquired={"a1": slack + 1, "a2": 0},
            freed={"a1": 0, "a2": 0},
        )
        variant.all_runs.append(claimed)
        found = account(variant, server, args)
    assert found and all("a1" in problem for problem in found), found
