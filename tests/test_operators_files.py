"""The operators' files: the alert rules, Prometheus' config in the prod compose file, the
Grafana dashboard, each checked by promtool as Prometheus would load it.

promtool comes with Debian's prometheus package (`make system-deps`); without it these
tests fail, naming that command.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from .api_support import memory_app
from .deploy_files import (
    ALERTS,
    ALERTS_TEST,
    COMPOSE_PROD,
    DASHBOARD,
    DOCKERIGNORE,
    PROMETHEUS_CONFIG,
    PROMETHEUS_DIR,
    ROOT,
    compose,
    dashboard_panels,
    grafana_to_promql,
    metric_names,
    objmgr_replicas,
    promtool,
    service_environment,
)

# The series of the contract's "Observability", as Prometheus stores them.
GAUGES = {
    "objmgr_pool_size",
    "objmgr_pool_in_use",
    "objmgr_pool_available",
    "objmgr_pool_waiting",
    "objmgr_pool_cooling",
    "objmgr_store_up",
}
COUNTERS = {
    "objmgr_leases_granted_total",
    "objmgr_leases_freed_total",
    "objmgr_leases_expired_total",
    "objmgr_leases_renewed_total",
    "objmgr_leases_revoked_total",
    "objmgr_acquire_refused_total",
}
HISTOGRAMS = {"objmgr_acquire_wait_seconds", "objmgr_request_duration_seconds"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SERIES = GAUGES | COUNTERS | {name + suffix for name in HISTOGRAMS for suffix in HISTOGRAM_SUFFIXES}
# Prometheus' own series of every target, which the alerts may use besides objmgr's.
SCRAPE_SERIES = {"up"}


def load_yaml(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    assert isinstance(loaded, dict), path
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text())
    assert isinstance(loaded, dict)
    return loaded


def expressions(document: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in dashboard_panels(document)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def completed(result: Any) -> str:
    assert result.returncode == 0, f"{' '.join(result.args)}:\n{result.stdout}{result.stderr}"
    return str(result.stdout)


# What /metrics serves -----------------------------------------------------------
def served_series() -> tuple[str, dict[str, str]]:
    """A scrape's text after a grant, and the series names it declares, by type."""
    client = memory_app().test_client()
    client.post("/graphql", json={"query": "mutation { acquireObject { success } }"})
    text = client.get("/metrics").get_data(as_text=True)
    declared = {}
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            declared[family.name + "_total"] = family.type
        elif family.type == "histogram":
            declared.update({family.name + suffix: family.type for suffix in HISTOGRAM_SUFFIXES})
        else:
            declared[family.name] = family.type
    return text, declared


def test_the_files_name_the_series_metrics_serves_with_their_types() -> None:
    _, declared = served_series()

    missing = SERIES - set(declared)
    assert not missing, f"the files name series /metrics lacks: {missing}"
    assert {name for name, kind in declared.items() if kind == "gauge"} >= GAUGES
    assert {name for name, kind in declared.items() if kind == "counter"} >= COUNTERS


def test_promtool_finds_nothing_to_lint_in_a_scrape() -> None:
    text, _ = served_series()

    result = promtool("check", "metrics", stdin=text)

    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


# Alert rules ------------------------------------------------------------------
def test_promtool_accepts_the_alert_rules() -> None:
    assert "SUCCESS" in completed(promtool("check", "rules", ALERTS))


def test_the_alert_rules_pass_their_unit_tests() -> None:
    assert "SUCCESS" in completed(promtool("test", "rules", ALERTS_TEST, cwd=PROMETHEUS_DIR))


def test_every_alert_holds_a_while_and_says_what_and_what_to_do() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} >= {
        "ObjmgrPoolNearlyExhausted",
        "ObjmgrAcquireWaitsLong",
        "ObjmgrWaitersStuck",
        "ObjmgrExpiriesFarAboveFrees",
        "ObjmgrStoreDown",
        "ObjmgrReplicaDown",
    }
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"]), f"{name}: no `for`, it fires on a blip"
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook"} <= set(annotations), name
        # Which pool, or which replica.
        summary = annotations["summary"]
        assert "$labels.pool" in summary or "$labels.instance" in summary, name


def test_the_alerts_name_only_the_contracts_series() -> None:
    for rule in alert_rules():
        named = metric_names(rule["expr"])
        assert named, rule["alert"]
        assert named <= SERIES | SCRAPE_SERIES, f"{rule['alert']}: {named - SERIES}"


def test_pool_alerts_make_one_alert_per_pool_whichever_replica_reports_it() -> None:
    # The gauges are the store's, the same on every replica: aggregated away from the
    # instance, so three replicas never make three pages.
    for rule in alert_rules():
        if metric_names(rule["expr"]) & (GAUGES - {"objmgr_store_up"}):
            assert "by (job, pool)" in rule["expr"], rule["alert"]


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = load_yaml(ALERTS_TEST)
    assert tests["rule_files"] == [ALERTS.name]
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in tests["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in alert_rules()}
    assert fired == names, f"never seen firing: {names - fired}"
    assert quiet == names, f"never seen quiet: {names - quiet}"


# Prometheus in the prod compose file -------------------------------------------
def prometheus_service() -> dict[str, Any]:
    service = compose(COMPOSE_PROD)["services"]["prometheus"]
    assert isinstance(service, dict)
    return service


def container_path_in_repo(service: dict[str, Any], path: str) -> Path:
    """The repository file a path inside the container is, through its bind mounts."""
    for volume in service["volumes"]:
        source, target, *_ = volume.split(":")
        if source.startswith(".") and (path == target or path.startswith(target + "/")):
            return (COMPOSE_PROD.parent / source / Path(path).relative_to(target)).resolve()
    raise AssertionError(f"{path} is in no bind mount of {service['volumes']}")


def test_prometheus_scrapes_every_replica_of_the_prod_compose_file() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "objmgr"]
    (static,) = job["static_configs"]
    replicas = objmgr_replicas(compose(COMPOSE_PROD))
    ports = {service_environment(s)["OBJMGR_BIND"].rsplit(":", 1)[1] for s in replicas.values()}
    (port,) = ports
    assert sorted(static["targets"]) == sorted(f"{name}:{port}" for name in replicas)
    assert job.get("metrics_path", "/metrics") == "/metrics"
    # The alerts' `up{job="objmgr"}` and the job agree.
    assert any('up{job="objmgr"}' in rule["expr"] for rule in alert_rules())
    assert [PROMETHEUS_DIR / name for name in config["rule_files"]] == [ALERTS]


def test_prometheus_sends_the_metrics_token_compose_hands_it() -> None:
    document = compose(COMPOSE_PROD)
    service = prometheus_service()
    job = load_yaml(PROMETHEUS_CONFIG)["scrape_configs"][0]
    authorization = job["authorization"]
    assert authorization.get("type", "Bearer") == "Bearer"
    (secret,) = service["secrets"]
    assert authorization["credentials_file"] == f"/run/secrets/{secret}"
    source = document["secrets"][secret]["file"]
    # The operator's file: kept out of git and out of any image.
    relative = Path(source).relative_to(".")
    assert f"/{relative.parts[0]}/" in (ROOT / ".gitignore").read_text().splitlines()
    assert relative.parts[0] in DOCKERIGNORE.read_text().splitlines()


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    # promtool opens the credentials file and the rule files: a copy of the folder, with a
    # token file where compose would mount the secret.
    folder = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, folder)
    token = tmp_path / "metrics-token"
    token.write_text("a-token-for-the-check\n")
    config = folder / PROMETHEUS_CONFIG.name
    original = load_yaml(PROMETHEUS_CONFIG)
    path = original["scrape_configs"][0]["authorization"]["credentials_file"]
    config.write_text(PROMETHEUS_CONFIG.read_text().replace(path, str(token)))

    output = completed(promtool("check", "config", config))

    assert "is valid prometheus config file syntax" in output
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_the_prometheus_service_runs_the_repositorys_files_read_only() -> None:
    document = compose(COMPOSE_PROD)
    service = prometheus_service()
    image, _, tag = service["image"].partition(":")
    assert image == "prom/prometheus" and re.fullmatch(r"v\d+\.\d+\.\d+", tag), "a pinned version"
    flags = dict(flag.removeprefix("--").split("=", 1) for flag in service["command"])
    assert container_path_in_repo(service, flags["config.file"]) == PROMETHEUS_CONFIG
    for volume in service["volumes"]:
        source, target, *options = volume.split(":")
        if source.startswith("."):
            assert options == ["ro"], f"{volume}: the repository's files, read-only"
            assert (COMPOSE_PROD.parent / source).exists(), volume
        else:
            assert source in document["volumes"] and target == flags["storage.tsdb.path"]
    # The UI and API have no auth: loopback only.
    assert service["ports"] == ["127.0.0.1:9090:9090"]
    assert sorted(service["depends_on"]) == sorted(objmgr_replicas(document))
    assert service["read_only"] is True and service["cap_drop"] == ["ALL"]


# The Grafana dashboard ---------------------------------------------------------
def test_the_dashboard_is_grafana_json_with_a_datasource_and_a_pool_variable() -> None:
    document = dashboard()
    assert document["schemaVersion"] >= 39 and document["uid"] and document["title"]
    variables = {variable["name"]: variable for variable in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    pool = variables["pool"]
    assert pool["query"]["query"] == "label_values(objmgr_pool_size, pool)"
    assert pool["includeAll"] and pool["multi"]
    for panel in dashboard_panels(document):
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]


def test_every_panel_has_a_unique_id_and_a_place_on_the_grid() -> None:
    panels = list(dashboard_panels(dashboard()))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels:
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid), panel["title"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
    places = [(p["gridPos"]["x"], p["gridPos"]["y"]) for p in panels]
    assert len(places) == len(set(places)), "two panels in one place"


def test_the_dashboard_shows_every_series_of_the_contract_and_nothing_else() -> None:
    named = set().union(*(metric_names(expr) for expr in expressions(dashboard())))

    assert named <= SERIES, f"not objmgr's: {named - SERIES}"
    shown = {name.removesuffix(suffix) for name in named for suffix in ("_bucket", "")}
    contract = GAUGES | COUNTERS | HISTOGRAMS
    assert not contract - shown, f"not on the dashboard: {contract - shown}"


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses what it loads: the expressions as recording rules.
    exprs = expressions(dashboard())
    rules = tmp_path / "dashboard_rules.yml"
    recorded = [
        {"record": f"dashboard:expr_{number}", "expr": grafana_to_promql(expr)}
        for number, expr in enumerate(exprs)
    ]
    rules.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": recorded}]}))

    output = completed(promtool("check", "rules", rules))

    assert f"SUCCESS: {len(exprs)} rules found" in output


@pytest.mark.parametrize(
    "expr",
    ['sum(rate(objmgr_pool_size{pool=~"$pool"}[5m]) by', "rate(objmgr_leases_freed_total)"],
)
def test_the_promql_check_refuses_a_broken_expression(tmp_path: Path, expr: str) -> None:
    rules = tmp_path / "broken.yml"
    rules.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"record": "r:x", "expr": expr}]}]})
    )

    assert promtool("check", "rules", rules).returncode != 0
