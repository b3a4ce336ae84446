"""The report: the table of every server's figures, its ratios, and the project's targets.

What a run found is a StoreResult per objmgr store and a PeerResult for etcd; `problems` and
`peer_problems` say what in them failed a check. Every target line gives the ratio over all
rounds, its spread round by round (each round's figures against the same round's) and
whether it is met.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import NamedTuple

from .etcd_peer import pair_rps
from .servers import BATCH_COUNT, LEASES_PER_ANSWER, OBJMGR_SCENARIOS, StoreRun
from .wrk import HEALTHZ, Scenario, Series

# The targets of issue 14, each with 2 gevent workers.
TARGET_RATIO = 0.8  # sqlite acquire/healthz
TARGET_REDIS_VS_SQLITE = 0.9  # redis acquire/s over sqlite's
TARGET_VERSION_RATIO = 0.9  # sqlite { version }/healthz
TARGET_BATCH_VS_ACQUIRE = 0.5  # sqlite acquireObjects(count: 10) req/s over acquireObject's
TARGET_VS_ETCD_TXN = 1.0  # sqlite acquire/s over etcd's put-if-absent txn/s


@dataclass
class StoreResult:
    store: StoreRun
    series: dict[str, Series]
    in_use: int = 0
    acquire_runs: int = 0  # warm-up included: every one of them took objects
    warmup_acquired: int = 0  # leases the warm-ups' expected answers held
    batch_runs: int = 0  # acquireObjects runs, warm-up included

    def ratio(self, key: str) -> float:
        healthz = self.series[HEALTHZ.key].rps
        return self.series[key].rps / healthz if healthz else 0.0

    def cpu_ratio(self, key: str) -> str:
        healthz = self.series[HEALTHZ.key].cpu_us_per_request
        other = self.series[key].cpu_us_per_request
        return "-" if healthz is None or not other else f"{healthz / other:.2f}"

    @property
    def acquired(self) -> int:
        """Leases the answers with success true held, warm-up included."""
        counted = sum(
            self.series[key].total("expected") * leases
            for key, leases in LEASES_PER_ANSWER.items()
            if key in self.series
        )
        return counted + self.warmup_acquired

    @property
    def uncounted(self) -> int:
        """At most this many more leases were granted than answers seen: requests still in
        flight when wrk stops were served but not counted, one per connection per run."""
        return self.acquire_runs + LEASES_PER_ANSWER["batch"] * self.batch_runs


@dataclass
class PeerResult:
    name: str
    version: str
    series: dict[str, Series]
    warmup_expected: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)  # warm-up included
    keys_held: int = 0
    leases_held: int = 0

    def answered(self, key: str) -> int:
        return self.series[key].total("expected") + self.warmup_expected.get(key, 0)

    @property
    def pair_rps(self) -> float:
        return pair_rps(self.series["grant"].rps, self.series["txn"].rps)


def transport_problems(name: str, series: dict[str, Series]) -> list[str]:
    found = []
    for key, one in series.items():
        if one.total("non_2xx"):
            found.append(f"{name} {key}: {one.total('non_2xx')} non-2xx responses")
        if one.total("expected") != one.total("responses"):
            bad = one.total("responses") - one.total("expected")
            found.append(f"{name} {key}: {bad} bodies did not match the expected answer")
        if one.total("socket_errors") or one.total("timeouts"):
            found.append(
                f"{name} {key}: {one.total('socket_errors')} socket errors, "
                f"{one.total('timeouts')} timeouts"
            )
    return found


def problems(result: StoreResult, connections: int) -> list[str]:
    name = result.store.name
    found = transport_problems(name, result.series)
    low = result.acquired
    high = low + connections * result.uncounted
    if not low <= result.in_use <= high:
        found.append(f"{name}: inUse is {result.in_use}, expected {low}..{high} (acquires seen)")
    return found


def peer_problems(result: PeerResult, connections: int) -> list[str]:
    """Besides the answers: etcd holds a key for every txn answered succeeded, and a lease
    for every grant answered (one more: the lease the txns carry), give or take what was
    in flight when wrk stopped."""
    found = transport_problems(result.name, result.series)
    for what, held, low, runs in (
        ("keys", result.keys_held, result.answered("txn"), result.runs.get("txn", 0)),
        ("leases", result.leases_held, result.answered("grant") + 1, result.runs.get("grant", 0)),
    ):
        high = low + connections * runs
        if not low <= held <= high:
            found.append(f"{result.name}: holds {held} {what}, expected {low}..{high}")
    return found


def print_table(
    results: list[StoreResult], peer: PeerResult | None, args: argparse.Namespace
) -> None:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds "
        f"interleaved after a {args.warmup}s warm-up of each; req/s over all rounds"
    )
    header = (
        f"{'server':<8} {'workers':>7}  {'request':<26} {'req/s':>9} {'rounds min..max':>17} "
        f"{'p99 ms':>7} {'CPU us/req':>10} {'non-2xx':>7} {'bodies ok':>17} {'/healthz':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for scenario in OBJMGR_SCENARIOS:
            print_row(
                result.store.name,
                str(result.store.workers),
                scenario,
                result.series[scenario.key],
                f"{result.ratio(scenario.key):.2f}",
            )
    if peer is not None:
        for scenario in peer_scenarios(peer):
            print_row(peer.name, "1", scenario, peer.series[scenario.key], "-")
    helped = [result.store.name for result in results if result.store.pids]
    if helped:
        print(f"(CPU us/req of {', '.join(helped)} includes its store's own server process)")
    if peer is not None:
        print(
            f"({peer.name} {peer.version}: CPU us/req is its process's; its pair, a grant and "
            f"a txn a fresh slot needs, {peer.pair_rps:,.0f}/s; it holds {peer.keys_held:,} "
            f"keys for {peer.answered('txn'):,} txns answered succeeded, {peer.leases_held:,} "
            f"leases for {peer.answered('grant'):,} grants + 1)"
        )
    print()
    print_summary(results)
    print()
    for line in target_lines(results, peer):
        print(line)


def peer_scenarios(peer: PeerResult) -> list[Scenario]:
    from .etcd_peer import SCENARIOS

    return [scenario for scenario in SCENARIOS if scenario.key in peer.series]


def print_row(name: str, workers: str, scenario: Scenario, series: Series, ratio: str) -> None:
    rates = [run.rps for run in series.runs]
    spread = f"{min(rates):,.0f}..{max(rates):,.0f}" if rates else "-"
    bodies = f"{series.total('expected')}/{series.total('responses')}"
    cpu = series.cpu_us_per_request
    cpu_text = "-" if cpu is None else f"{cpu:,.0f}"
    print(
        f"{name:<8} {workers:>7}  {scenario.label:<26} {series.rps:>9,.0f} {spread:>17} "
        f"{series.p99_ms:>7.1f} {cpu_text:>10} {series.total('non_2xx'):>7} {bodies:>17} "
        f"{ratio:>8}"
    )


def print_summary(results: list[StoreResult]) -> None:
    baseline = find(results, "sqlite")
    header = (
        f"{'store':<8} {'workers':>7} {'acquire/s':>10} {'healthz/s':>10} "
        f"{'acquire/healthz':>15} {'by CPU':>6} {'version/healthz':>15} {'by CPU':>6} "
        f"{'batch/acquire':>13} {'acquire vs sqlite':>17} {'by CPU':>6} {'inUse after':>11}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        versus = versus_cpu = "-"
        if baseline is not None and baseline.series["acquire"].rps:
            versus = f"{versus_sqlite(result, baseline):.2f}x"
            mine = result.series["acquire"].cpu_us_per_request
            theirs = baseline.series["acquire"].cpu_us_per_request
            if mine and theirs:
                versus_cpu = f"{theirs / mine:.2f}x"
        acquire = result.series["acquire"].rps
        batch = f"{result.series['batch'].rps / acquire:.2f}" if acquire else "-"
        print(
            f"{result.store.name:<8} {result.store.workers:>7} "
            f"{acquire:>10,.0f} {result.series['healthz'].rps:>10,.0f} "
            f"{result.ratio('acquire'):>15.2f} {result.cpu_ratio('acquire'):>6} "
            f"{result.ratio('version'):>15.2f} {result.cpu_ratio('version'):>6} "
            f"{batch:>13} {versus:>17} {versus_cpu:>6} {result.in_use:>11,}"
        )
    print(
        "(by CPU: the ratio if the server's CPU time per request were all that counted; "
        "a ratio well below it means requests wait: on the disk, on locks; batch/acquire: "
        f"acquireObjects(count: {BATCH_COUNT}) requests/s over acquireObject's)"
    )


def find(results: list[StoreResult], name: str) -> StoreResult | None:
    return next((result for result in results if result.store.name == name), None)


def versus_sqlite(result: StoreResult, sqlite: StoreResult) -> float:
    baseline = sqlite.series["acquire"].rps
    return result.series["acquire"].rps / baseline if baseline else 0.0


class Figure(NamedTuple):
    rps: float  # over all rounds
    rounds: list[float]  # req/s round by round
    cpu_us: float | None  # the server's CPU per request


def figure(series: dict[str, Series] | None, key: str) -> Figure | None:
    if series is None or key not in series:
        return None
    one = series[key]
    return Figure(one.rps, [run.rps for run in one.runs], one.cpu_us_per_request)


def pair_figure(peer: PeerResult) -> Figure:
    """etcd's grant + txn pair: the two requests' rates combined, round by round too, and
    their CPU per request added."""
    grant, txn = peer.series["grant"], peer.series["txn"]
    cpu = None
    if grant.cpu_us_per_request is not None and txn.cpu_us_per_request is not None:
        cpu = grant.cpu_us_per_request + txn.cpu_us_per_request
    rounds = [pair_rps(a.rps, b.rps) for a, b in zip(grant.runs, txn.runs, strict=False)]
    return Figure(peer.pair_rps, rounds, cpu)


def ratio_line(label: str, over: Figure, under: Figure, target: float | None) -> str:
    """`label`, over/under in all, its spread over the rounds, the ratio CPU per request
    alone would give, and met / NOT met (on requests/s)."""
    total = over.rps / under.rps if under.rps else 0.0
    rounds = [a / b for a, b in zip(over.rounds, under.rounds, strict=False) if b]
    spread = f"rounds {min(rounds):.2f}..{max(rounds):.2f}" if rounds else ""
    by_cpu = "by CPU -"
    if over.cpu_us and under.cpu_us:
        by_cpu = f"by CPU {under.cpu_us / over.cpu_us:.2f}x"
    judged = "" if target is None else verdict(total >= target)
    return f"{label:<62} {total:>5.2f}x  {spread:<19} {by_cpu:<14} {judged}".rstrip()


def target_lines(results: list[StoreResult], peer: PeerResult | None = None) -> list[str]:
    """One line per target of the project: its figure, its spread, and whether it is met;
    then the references."""

    def two_workers(name: str) -> dict[str, Series] | None:
        result = find(results, name)
        return None if result is None or result.store.workers != 2 else result.series

    def series_of(name: str) -> dict[str, Series] | None:
        result = find(results, name)
        return None if result is None else result.series

    sqlite, redis, stock = two_workers("sqlite"), two_workers("redis"), series_of("stock")
    etcd = None if peer is None else peer.series
    lines: list[str] = []

    def add(
        label: str, needs: str, over: Figure | None, under: Figure | None, target: float | None
    ) -> None:
        if over is not None and under is not None:
            lines.append(ratio_line(label, over, under, target))
        elif target is not None:
            lines.append(f"{label:<62} not measured (needs --stores {needs})")

    add(
        f"target sqlite acquireObject >= {TARGET_RATIO}x /healthz:",
        "sqlite",
        figure(sqlite, "acquire"),
        figure(sqlite, "healthz"),
        TARGET_RATIO,
    )
    add(
        f"target redis acquire >= {TARGET_REDIS_VS_SQLITE}x sqlite's:",
        "sqlite,redis",
        figure(redis, "acquire"),
        figure(sqlite, "acquire"),
        TARGET_REDIS_VS_SQLITE,
    )
    add(
        f"target sqlite {{ version }} >= {TARGET_VERSION_RATIO}x /healthz:",
        "sqlite",
        figure(sqlite, "version"),
        figure(sqlite, "healthz"),
        TARGET_VERSION_RATIO,
    )
    add(
        f"target sqlite acquireObjects({BATCH_COUNT}) >= {TARGET_BATCH_VS_ACQUIRE}x "
        "acquireObject req/s:",
        "sqlite",
        figure(sqlite, "batch"),
        figure(sqlite, "acquire"),
        TARGET_BATCH_VS_ACQUIRE,
    )
    add(
        f"target sqlite acquireObject >= {TARGET_VS_ETCD_TXN}x etcd put-if-absent txn:",
        "sqlite,etcd",
        figure(sqlite, "acquire"),
        figure(etcd, "txn"),
        TARGET_VS_ETCD_TXN,
    )
    for label in (
        "target acquire rate at 10^6 held within 10% of an empty pool:",
        "target pool { inUse } O(1):",
    ):
        lines.append(f"{label:<62} measured by `make bench-bounds`, not here")
    add(
        "reference: stock graphql-server acquire/healthz:",
        "stock",
        figure(stock, "acquire"),
        figure(stock, "healthz"),
        None,
    )
    add(
        "reference: sqlite acquire over stock graphql-server's:",
        "stock",
        figure(sqlite, "acquire"),
        figure(stock, "acquire"),
        None,
    )
    if peer is not None:
        add(
            f"reference: sqlite acquire over etcd {peer.version} lease grant:",
            "etcd",
            figure(sqlite, "acquire"),
            figure(etcd, "grant"),
            None,
        )
        add(
            "reference: sqlite acquire over etcd's grant + txn pair:",
            "etcd",
            figure(sqlite, "acquire"),
            pair_figure(peer),
            None,
        )
    return lines


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def print_on_off_table(
    results: dict[str, dict[str, StoreResult]],
    args: argparse.Namespace,
    measured: tuple[Scenario, ...],
    target: float,
) -> None:
    """bench.journal_metrics' table: each store's ON and OFF, and ON's acquire rate over OFF's."""
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds, "
        f"ON and OFF in turn, after a {args.warmup}s warm-up of each; req/s over all rounds"
    )
    header = (
        f"{'store':<7} {'tree':<4} {'request':<19} {'req/s':>8} {'rounds min..max':>17} "
        f"{'p99 ms':>7} {'CPU us/req':>10} {'bodies ok':>17}"
    )
    print(header)
    print("-" * len(header))
    for name, variants in results.items():
        for variant, result in variants.items():
            for scenario in measured:
                series = result.series[scenario.key]
                rates = [run.rps for run in series.runs]
                cpu = series.cpu_us_per_request
                print(
                    f"{name:<7} {variant.upper():<4} {scenario.label:<19} {series.rps:>8,.0f} "
                    f"{f'{min(rates):,.0f}..{max(rates):,.0f}':>17} {series.p99_ms:>7.1f} "
                    f"{'-' if cpu is None else f'{cpu:,.0f}':>10} "
                    f"{series.total('expected')}/{series.total('responses'):<8}"
                )
    print()
    header = (
        f"{'store':<7} {'ON acquire/s':>12} {'OFF acquire/s':>13} {'ON/OFF':>7} "
        f"{'ON/OFF over /healthz':>20} {'CPU per acquire ON/OFF':>22}  target ON/OFF >= {target}"
    )
    print(header)
    print("-" * len(header))
    for name, variants in results.items():
        on, off = variants["on"], variants["off"]
        ratio = on.series["acquire"].rps / off.series["acquire"].rps
        normalized = on.ratio("acquire") / off.ratio("acquire") if off.ratio("acquire") else 0.0
        cpu_on = on.series["acquire"].cpu_us_per_request
        cpu_off = off.series["acquire"].cpu_us_per_request
        cpu_ratio = f"{cpu_on / cpu_off:.2f}" if cpu_on and cpu_off else "-"
        print(
            f"{name:<7} {on.series['acquire'].rps:>12,.0f} {off.series['acquire'].rps:>13,.0f} "
            f"{ratio:>7.3f} {normalized:>20.3f} {cpu_ratio:>22}  "
            f"{verdict(ratio >= target)}"
        )
    print(
        "(ON/OFF over /healthz: each tree's acquire/healthz, ON's over OFF's; CPU per "
        "acquire ON/OFF above 1: ON spends more per acquire)"
    )
