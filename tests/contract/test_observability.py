"""Dashboards, alert rules, runbooks and the metrics they read agree with each other and with the
code (issue #24; docs/operations.md "SLOs and alerts").

- `promtool check rules` and `promtool test rules` on deploy/observability/prometheus (every alert
  has a unit test that makes it fire), `promtool check config` on the compose Prometheus config;
  every query of the Grafana dashboard is valid PromQL (checked by promtool too).
- Every `chat_*`, `http_*`, `gateway_*`, `message_*`, `presence_*` metric a rule or panel reads is
  one the services define.
- Every alert has a severity and a runbook in docs/runbooks/ that names it, and every runbook
  belongs to an alert.
- The generated files (dashboard JSON, Kubernetes PrometheusRule) are current.
- Compose and Kubernetes turn tracing on and let Prometheus reach what it scrapes.

promtool comes with Debian's `prometheus` package (.ci/run and scripts/setup.sh install it); on
a machine without it the promtool tests are skipped, except under CI, where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.contract

REPO = Path(__file__).resolve().parents[2]
OBS = REPO / "deploy" / "observability"
RULES = OBS / "prometheus" / "rules" / "chat.rules.yml"
RULE_TESTS = OBS / "prometheus" / "tests" / "chat.rules.test.yml"
PROMETHEUS_CONFIG = OBS / "prometheus" / "prometheus.yml"
DASHBOARD = OBS / "grafana" / "dashboards" / "chat-overview.json"
DATASOURCES = OBS / "grafana" / "provisioning" / "datasources" / "chat.yml"
RUNBOOKS = REPO / "docs" / "runbooks"
K8S = REPO / "deploy" / "k8s"
COMPOSE = REPO / "docker-compose.yml"
SERVICES = ("auth-service", "gateway-service", "message-service", "presence-service",
            "file-service")  # fmt: skip
PORTS = {"auth-service": 8001, "gateway-service": 8002, "message-service": 8003,
         "presence-service": 8004, "file-service": 8005}  # fmt: skip
OWN_METRIC = re.compile(r"(?<![\w:])((?:chat|http|gateway|message|presence)_[a-z0-9_]+)(?![\w:])")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's `prometheus` package")
        pytest.skip(
            "promtool not installed: `apt-get install --no-install-recommends prometheus` "
            "(scripts/setup.sh does it as root); CI runs these checks"
        )
    return found


def run_promtool(*args: str, cwd: Path) -> str:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def panel_targets() -> list[tuple[str, str]]:
    """(panel title, expr) of every query of the dashboard."""
    found = []
    for panel in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"]:
        for target in panel.get("targets", []):
            found.append((panel["title"], target["expr"]))
    return found


def as_prometheus_query(expr: str) -> str:
    """A dashboard query with Grafana's variables replaced by what Prometheus would get."""
    return expr.replace("$__rate_interval", "5m").replace("$service", ".+")


# --- promtool ----------------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    output = run_promtool("check", "rules", str(RULES), cwd=REPO)
    assert f"SUCCESS: {len(rules())} rules found" in output


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    output = run_promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert "SUCCESS" in output


def test_promtool_checks_the_compose_prometheus_config() -> None:
    run_promtool("check", "config", "--syntax-only", str(PROMETHEUS_CONFIG), cwd=REPO)


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    checks = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{n}:check", "expr": as_prometheus_query(expr)}
                    for n, (_, expr) in enumerate(panel_targets())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump(checks), encoding="utf-8")
    run_promtool("check", "rules", str(path), cwd=tmp_path)


# --- the rules and their tests, runbooks -------------------------------------------------------


def test_every_alert_has_a_severity_a_summary_and_a_runbook_that_names_it() -> None:
    names = [alert["alert"] for alert in alerts()]
    assert len(names) == len(set(names))
    for alert in alerts():
        assert alert["labels"]["severity"] in ("critical", "warning"), alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]
        runbook = REPO / alert["annotations"]["runbook_url"]
        assert runbook.parent == RUNBOOKS, alert["alert"]
        assert runbook.is_file(), f"{alert['alert']}: no runbook at {runbook}"
        text = runbook.read_text(encoding="utf-8")
        assert alert["alert"] in text, f"{runbook.name} does not name {alert['alert']}"
        for section in ("## What it means", "## Check", "## Fix"):
            assert section in text, f"{runbook.name}: no {section!r} section"


def test_every_runbook_belongs_to_an_alert() -> None:
    used = {Path(alert["annotations"]["runbook_url"]).name for alert in alerts()}
    present = {path.name for path in RUNBOOKS.glob("*.md")} - {"README.md"}
    assert present == used
    index = (RUNBOOKS / "README.md").read_text(encoding="utf-8")
    for alert in alerts():
        assert alert["alert"] in index, f"docs/runbooks/README.md does not list {alert['alert']}"


def test_every_alert_has_a_unit_test_that_makes_it_fire() -> None:
    fired = {
        case["alertname"]
        for test in load_yaml(RULE_TESTS)["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {alert["alert"] for alert in alerts()} <= fired


# --- metrics the rules and panels read exist ---------------------------------------------------


def defined_metrics() -> set[str]:
    """Every sample name the services' registries can expose (families with no child yet
    included), from a fresh interpreter that imports each metrics module."""
    probe = (
        "import json\n"
        "from prometheus_client import REGISTRY\n"
        "import chat_runtime.metrics, chat_runtime.http.middleware\n"
        "import gateway_service.metrics, message_service.metrics, presence_service.metrics\n"
        "suffixes = {'counter': ['_total', '_created'], 'histogram': ['_bucket', '_count',\n"
        "    '_sum', '_created'], 'gauge': [''], 'summary': ['_count', '_sum', '']}\n"
        "names = set()\n"
        "for family in REGISTRY.collect():\n"
        "    names.update(family.name + s for s in suffixes.get(family.type, ['']))\n"
        "print(json.dumps(sorted(names)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return set(json.loads(result.stdout))


def test_rules_and_panels_read_only_metrics_the_services_define() -> None:
    defined = defined_metrics()
    used = {
        (f"rule {rule.get('alert') or rule.get('record')}", name)
        for rule in rules()
        for name in OWN_METRIC.findall(rule["expr"])
    } | {(f"panel {title!r}", name) for title, expr in panel_targets()
         for name in OWN_METRIC.findall(expr)}  # fmt: skip
    unknown = sorted(f"{where}: {name}" for where, name in used if name not in defined)
    assert unknown == []
    # The message path's own metrics are all on the dashboard.
    for name in ("chat_outbox_lag_seconds", "chat_outbox_backlog_rows",
                 "chat_broker_publish_seconds_bucket", "chat_consumer_redeliveries_total",
                 "chat_consumer_dead_lettered_total", "chat_consumer_batch_messages_sum",
                 "message_send_to_commit_seconds_bucket", "gateway_send_ack_seconds_bucket",
                 "chat_db_pool_connections", "chat_event_loop_lag_seconds_bucket"):  # fmt: skip
        assert any(name in expr for _, expr in panel_targets()), f"{name} is on no panel"


# --- generated files, dashboard wiring -----------------------------------------------------------


def test_generated_files_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(OBS / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_kubernetes_prometheus_rule_holds_the_same_groups() -> None:
    rule = load_yaml(K8S / "monitoring" / "prometheusrule.yaml")
    assert rule["kind"] == "PrometheusRule"
    assert rule["spec"]["groups"] == load_yaml(RULES)["groups"]


def test_the_dashboard_is_well_formed_and_wired_to_provisioned_data_sources() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    rows = [panel["title"] for panel in dashboard["panels"] if panel["type"] == "row"]
    assert rows == [
        "Golden signals per service",
        "Message path: send -> commit -> outbox -> event -> ack",
        "Presence",
        "Broker (RabbitMQ)",
        "Database (PostgreSQL)",
    ]
    sources = load_yaml(DATASOURCES)["datasources"]
    uids = {source["uid"] for source in sources}
    assert {"prometheus", "jaeger"} <= uids
    prometheus = next(source for source in sources if source["uid"] == "prometheus")
    [link] = prometheus["jsonData"]["exemplarTraceIdDestinations"]
    assert (link["name"], link["datasourceUid"]) == ("trace_id", "jaeger")  # our exemplar label


# --- deployments -------------------------------------------------------------------------------


def test_compose_runs_the_observability_stack_with_tracing_on() -> None:
    compose = load_yaml(COMPOSE)
    services = compose["services"]
    for name in ("prometheus", "grafana", "otel-collector", "jaeger", "postgres-exporter",
                 "blackbox-exporter"):  # fmt: skip
        assert name in services, name
    for name in SERVICES:
        env = services[name]["environment"]
        assert env["CHAT_OTEL_EXPORTER"] == "otlp", name
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4318", name
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    # Every file or directory compose mounts from the repository exists.
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_compose_prometheus_scrapes_every_service_the_broker_and_the_database() -> None:
    config = load_yaml(PROMETHEUS_CONFIG)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for name in SERVICES:
        [sd] = jobs[name]["dns_sd_configs"]
        assert (sd["names"], sd["port"]) == ([name], PORTS[name])
        assert {"source_labels": ["__meta_dns_name"], "target_label": "service"} in jobs[name][
            "relabel_configs"
        ]
    assert jobs["rabbitmq-queues"]["metrics_path"] == "/metrics/detailed"
    assert jobs["postgres"]["static_configs"] == [{"targets": ["postgres-exporter:9187"]}]
    plugins = (OBS / "rabbitmq" / "enabled_plugins").read_text(encoding="utf-8")
    assert "rabbitmq_prometheus" in plugins


def test_kubernetes_turns_tracing_on_and_lets_prometheus_scrape_every_service() -> None:
    config = load_yaml(K8S / "configmap.yaml")["data"]
    assert config["CHAT_OTEL_EXPORTER"] == "otlp"
    assert config["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector.")
    assert "otel-collector.yaml" in load_yaml(K8S / "kustomization.yaml")["resources"]

    policy = load_yaml(K8S / "networkpolicy.yaml")
    scraping = [
        rule
        for rule in policy["spec"]["ingress"]
        if any("namespaceSelector" in peer for peer in rule.get("from", []))
    ]
    assert scraping, "no ingress rule for Prometheus"
    allowed = {port["port"] for rule in scraping for port in rule.get("ports", [])}
    assert set(PORTS.values()) <= allowed

    monitors = list(
        yaml.safe_load_all((K8S / "monitoring" / "podmonitors.yaml").read_text(encoding="utf-8"))
    )
    services = next(m for m in monitors if m["metadata"]["name"] == "chat-services")
    [selector] = services["spec"]["selector"]["matchExpressions"]
    assert set(selector["values"]) == set(SERVICES)
    for service in SERVICES:
        documents = yaml.safe_load_all((K8S / f"{service}.yaml").read_text(encoding="utf-8"))
        deployment = next(d for d in documents if d["kind"] == "Deployment")
        ports = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
        assert {"name": "http", "containerPort": PORTS[service]} in ports
    resources = load_yaml(K8S / "monitoring" / "kustomization.yaml")["resources"]
    for resource in resources:
        assert (K8S / "monitoring" / resource).is_file()


def test_tracing_stays_off_by_default_for_local_runs_and_tests() -> None:
    from chat_runtime.settings import BaseServiceSettings

    field = BaseServiceSettings.model_fields["otel_exporter"]
    assert field.default == "none"
