"""The report: the table of every store's figures, its ratios, and the project's targets.

What a run found is a StoreResult per store; `problems` says what in it failed a check.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from .servers import StoreRun
from .wrk import HEALTHZ, SCENARIOS, Scenario, Series

TARGET_RATIO = 0.5  # sqlite acquire/healthz, 2 workers
TARGET_REDIS_VS_SQLITE = 0.8  # redis acquire/s over sqlite's, 2 workers each


@dataclass
class StoreResult:
    store: StoreRun
    series: dict[str, Series]
    in_use: int = 0
    acquire_runs: int = 0  # warm-up included: every one of them took objects
    warmup_acquired: int = 0

    def ratio(self, key: str) -> float:
        healthz = self.series[HEALTHZ.key].rps
        return self.series[key].rps / healthz if healthz else 0.0

    def cpu_ratio(self, key: str) -> str:
        healthz = self.series[HEALTHZ.key].cpu_us_per_request
        other = self.series[key].cpu_us_per_request
        return "-" if healthz is None or not other else f"{healthz / other:.2f}"

    @property
    def acquired(self) -> int:
        """Acquire responses with success true, warm-up included."""
        return self.series["acquire"].total("expected") + self.warmup_acquired


def problems(result: StoreResult, connections: int) -> list[str]:
    found = []
    name = result.store.name
    for key, series in result.series.items():
        if series.total("non_2xx"):
            found.append(f"{name} {key}: {series.total('non_2xx')} non-2xx responses")
        if series.total("expected") != series.total("responses"):
            bad = series.total("responses") - series.total("expected")
            found.append(f"{name} {key}: {bad} bodies did not match the expected answer")
        if series.total("socket_errors") or series.total("timeouts"):
            found.append(
                f"{name} {key}: {series.total('socket_errors')} socket errors, "
                f"{series.total('timeouts')} timeouts"
            )
    # Requests still in flight when wrk stops were served but not counted: at most one per
    # connection per run.
    low, high = result.acquired, result.acquired + connections * result.acquire_runs
    if not low <= result.in_use <= high:
        found.append(f"{name}: inUse is {result.in_use}, expected {low}..{high} (acquires seen)")
    return found


def print_table(results: list[StoreResult], args: argparse.Namespace) -> None:
    print()
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, {args.rounds} rounds "
        f"interleaved after a {args.warmup}s warm-up of each; req/s over all rounds"
    )
    header = (
        f"{'store':<8} {'workers':>7}  {'request':<20} {'req/s':>9} {'rounds min..max':>17} "
        f"{'p99 ms':>7} {'CPU us/req':>10} {'non-2xx':>7} {'bodies ok':>17} {'/healthz':>8}"
    )
    print(header)
    print("-" * len(header))
    for result in results:
        for scenario in SCENARIOS:
            series = result.series[scenario.key]
            rates = [run.rps for run in series.runs]
            spread = f"{min(rates):,.0f}..{max(rates):,.0f}"
            bodies = f"{series.total('expected')}/{series.total('responses')}"
            cpu = series.cpu_us_per_request
            cpu_text = "-" if cpu is None else f"{cpu:,.0f}"
            print(
                f"{result.store.name:<8} {result.store.workers:>7}  {scenario.label:<20} "
                f"{series.rps:>9,.0f} {spread:>17} {series.p99_ms:>7.1f} {cpu_text:>10} "
                f"{series.total('non_2xx'):>7} {bodies:>17} {result.ratio(scenario.key):>8.2f}"
            )
    helped = [result.store.name for result in results if result.store.pids]
    if helped:
        print(f"(CPU us/req of {', '.join(helped)} includes its store's own server process)")
    print()
    baseline = find(results, "sqlite")
    header = (
        f"{'store':<8} {'workers':>7} {'acquire/s':>10} {'healthz/s':>10} "
        f"{'acquire/healthz':>15} {'by CPU':>6} {'version/healthz':>15} {'by CPU':>6} "
        f"{'acquire vs sqlite':>17} {'by CPU':>6} {'inUse after':>11}"
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
        print(
            f"{result.store.name:<8} {result.store.workers:>7} "
            f"{result.series['acquire'].rps:>10,.0f} {result.series['healthz'].rps:>10,.0f} "
            f"{result.ratio('acquire'):>15.2f} {result.cpu_ratio('acquire'):>6} "
            f"{result.ratio('version'):>15.2f} {result.cpu_ratio('version'):>6} "
            f"{versus:>17} {versus_cpu:>6} {result.in_use:>11,}"
        )
    print(
        "(by CPU: the ratio if the server's CPU time per request were all that counted; "
        "a ratio well below it means requests wait: on the disk, on locks)"
    )
    print()
    for line in target_lines(results):
        print(line)


def find(results: list[StoreResult], name: str) -> StoreResult | None:
    return next((result for result in results if result.store.name == name), None)


def versus_sqlite(result: StoreResult, sqlite: StoreResult) -> float:
    baseline = sqlite.series["acquire"].rps
    return result.series["acquire"].rps / baseline if baseline else 0.0


def target_lines(results: list[StoreResult]) -> list[str]:
    """One line per target of the project: its figure and whether it is met."""
    sqlite, redis = find(results, "sqlite"), find(results, "redis")
    lines = []
    label = f"target sqlite acquire/healthz >= {TARGET_RATIO} (2 workers):"
    if sqlite is None or sqlite.store.workers != 2:
        lines.append(f"{label:<48} not measured (needs --stores sqlite)")
    else:
        ratio = sqlite.ratio("acquire")
        lines.append(f"{label:<48} {ratio:.2f}  {verdict(ratio >= TARGET_RATIO)}")
    label = f"target redis acquire >= {TARGET_REDIS_VS_SQLITE}x sqlite's (2 workers):"
    if sqlite is None or redis is None or sqlite.store.workers != 2 or redis.store.workers != 2:
        lines.append(f"{label:<48} not measured (needs --stores sqlite,redis)")
    else:
        ratio = versus_sqlite(redis, sqlite)
        lines.append(f"{label:<48} {ratio:.2f}x {verdict(ratio >= TARGET_REDIS_VS_SQLITE)}")
    stock = find(results, "stock")
    if sqlite is not None and stock is not None and stock.ratio("acquire"):
        lines.append(
            f"{'reference: stock graphql-server acquire/healthz:':<48} "
            f"{stock.ratio('acquire'):.2f}  (sqlite's is "
            f"{sqlite.ratio('acquire') / stock.ratio('acquire'):.2f}x that)"
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
