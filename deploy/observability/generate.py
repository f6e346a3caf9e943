#!/usr/bin/env python3
"""Writes the generated observability files from their sources:

- `grafana/dashboards/chat-overview.json`, the Grafana dashboard (panels defined below), and
- `../k8s/monitoring/prometheusrule.yaml`, the PrometheusRule holding the groups of
  `prometheus/rules/chat.rules.yml` (the one source of the rules).

    python3 deploy/observability/generate.py           # write them
    python3 deploy/observability/generate.py --check   # exit 1 when a file is stale

`make test-contract` runs the check (tests/contract/test_observability.py), which also checks
every query here with promtool and against the metrics the services define.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RULES = HERE / "prometheus" / "rules" / "chat.rules.yml"
DASHBOARD = HERE / "grafana" / "dashboards" / "chat-overview.json"
PROMETHEUS_RULE = HERE.parent / "k8s" / "monitoring" / "prometheusrule.yaml"

DS = {"type": "prometheus", "uid": "${datasource}"}
SERVICES = 'service=~"$service"'
RATE = "$__rate_interval"


class Layout:
    """Places panels left to right in rows of 24 columns; hands out panel ids."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "id": self._id(),
                "title": title,
                "collapsed": False,
                "panels": [],
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
            }
        )
        self.y += 1

    def _newline(self) -> None:
        if self.x:
            self.y += self.row_height
        self.x = 0
        self.row_height = 0

    def add(self, panel: dict[str, Any], w: int, h: int) -> None:
        if self.x + w > 24:
            self._newline()
        panel["id"] = self._id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)


def target(expr: str, legend: str = "", *, exemplar: bool = False) -> dict[str, Any]:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "range": True,
        "exemplar": exemplar,
    }


def timeseries(
    title: str,
    targets: list[dict[str, Any]],
    *,
    unit: str = "short",
    description: str = "",
    stack: bool = False,
    min_zero: bool = True,
) -> dict[str, Any]:
    for ref, item in zip("ABCDEFGH", targets, strict=False):
        item["refId"] = ref
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    defaults: dict[str, Any] = {"unit": unit, "custom": custom}
    if min_zero:
        defaults["min"] = 0
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    expr: str,
    *,
    unit: str = "short",
    description: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
    legend: str = "",
) -> dict[str, Any]:
    steps = [{"color": color, "value": value} for value, color in (thresholds or [(None, "green")])]
    item = target(expr, legend)
    item["refId"] = "A"
    item["instant"] = True
    item["range"] = False
    return {
        "type": "stat",
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [item],
        "fieldConfig": {
            "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": [],
        },
        "options": {
            "colorMode": "background",
            "graphMode": "none",
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "textMode": "value_and_name",
        },
    }


def either_exporter(template: str) -> str:
    """`template` over compose's postgres-exporter (`pg_…`) or CloudNativePG's exporter
    (`cnpg_pg_…`, and `cnpg_backends_total` for `pg_stat_activity_count`)."""
    cnpg = template.replace("pg_stat_activity_count", "cnpg_backends_total").replace(
        "(pg_", "(cnpg_pg_"
    )
    return f"{template} or {cnpg}"


def quantiles(metric: str, by: str, selector: str = "") -> list[dict[str, Any]]:
    inner = f"sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RATE}]))"
    legend_by = " ".join("{{" + label.strip() + "}}" for label in by.split(",") if label.strip())
    return [
        target(f"histogram_quantile({q}, {inner})", f"p{int(q * 100)} {legend_by}", exemplar=True)
        for q in (0.5, 0.99)
    ]


def dashboard() -> dict[str, Any]:
    lay = Layout()

    lay.row("Golden signals per service")
    up = f"up{{{SERVICES}}}"
    lay.add(
        stat(
            "Replicas up",
            f"sum by (service) ({up})",
            legend="{{service}}",
            thresholds=[(None, "red"), (1, "green")],
            description="Targets answering /metrics, per service.",
        ),
        24,
        4,
    )
    lay.add(
        timeseries(
            "Traffic: HTTP requests/s",
            [target(f"sum by (service) (rate(http_requests_total{{{SERVICES}}}[{RATE}]))")],
            unit="reqps",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Errors: 5xx share",
            [
                target(
                    f'sum by (service) (rate(http_requests_total{{{SERVICES},status=~"5.."}}'
                    f"[{RATE}])) / sum by (service) (rate(http_requests_total{{{SERVICES}}}"
                    f"[{RATE}]))"
                )
            ],
            unit="percentunit",
            description="SLO: 99.9% of requests are not 5xx (docs/operations.md).",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Latency: HTTP p50 / p99",
            quantiles("http_request_duration_seconds", "service", SERVICES),
            unit="s",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Saturation: event loop lag p99",
            [
                target(
                    "histogram_quantile(0.99, sum by (service, instance, le) "
                    f"(rate(chat_event_loop_lag_seconds_bucket{{{SERVICES}}}[{RATE}])))",
                    "{{service}} {{instance}}",
                )
            ],
            unit="s",
            description="How late a 0.5 s timer fires: CPU saturation or blocking calls.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Saturation: CPU (cores)",
            [
                target(
                    f"sum by (service, instance) (rate(process_cpu_seconds_total{{{SERVICES}}}"
                    f"[{RATE}]))",
                    "{{service}} {{instance}}",
                )
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Saturation: resident memory",
            [
                target(
                    f"sum by (service, instance) (process_resident_memory_bytes{{{SERVICES}}})",
                    "{{service}} {{instance}}",
                )
            ],
            unit="bytes",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Gateway: WebSocket connections",
            [target("sum by (instance) (gateway_connections)", "{{instance}}")],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Gateway: client frames/s by outcome",
            [target(f"sum by (outcome) (rate(gateway_frames_in_total[{RATE}]))", "{{outcome}}")],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Gateway: sockets closed by the gateway/s",
            [
                target(
                    f"sum by (reason) (rate(gateway_sockets_closed_by_gateway_total[{RATE}]))",
                    "{{reason}}",
                )
            ],
            unit="ops",
        ),
        8,
        8,
    )

    lay.row("Message path: send -> commit -> outbox -> event -> ack")
    lay.add(
        timeseries(
            "Send -> ack at the gateway (p50 / p99)",
            quantiles("gateway_send_ack_seconds", "service"),
            unit="s",
            description=(
                "message.send accepted -> message.ack queued to the sender. SLO: 99% within 1 s."
                " Exemplars link to the trace."
            ),
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Send -> commit in message-service (p50 / p99)",
            quantiles("message_send_to_commit_seconds", "service"),
            unit="s",
            description="Gateway publish -> transaction committed (queueing, batching, commit).",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Send commands/s by outcome",
            [
                target(
                    f"sum by (outcome) (rate(message_send_commands_total[{RATE}]))",
                    "{{outcome}}",
                ),
                target(
                    f"sum(rate(gateway_send_ack_seconds_count[{RATE}]))",
                    "acked at gateways",
                ),
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Outbox backlog (rows not yet published)",
            [target("max by (service, table) (chat_outbox_backlog_rows)", "{{service}}")],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Outbox lag (age of the oldest unpublished row)",
            [target("max by (service, table) (chat_outbox_lag_seconds)", "{{service}}")],
            unit="s",
            description="Alert ChatOutboxLagHigh above 30 s for 5 min.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Outbox rows published/s and relay failures/s",
            [
                target(
                    f"sum by (service) (rate(chat_outbox_published_total[{RATE}]))",
                    "published {{service}}",
                ),
                target(
                    f"sum by (service) (rate(chat_outbox_relay_failures_total[{RATE}]))",
                    "failed passes {{service}}",
                ),
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Publish confirm wait p99 by exchange",
            [
                target(
                    "histogram_quantile(0.99, sum by (service, exchange, le) "
                    f"(rate(chat_broker_publish_seconds_bucket[{RATE}])))",
                    "{{service}} {{exchange}}",
                    exemplar=True,
                )
            ],
            unit="s",
            description="One Broker.publish batch: first frame sent -> last confirm.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Batch sizes (mean)",
            [
                target(
                    f"sum by (queue) (rate(chat_consumer_batch_messages_sum[{RATE}])) / "
                    f"sum by (queue) (rate(chat_consumer_batch_messages_count[{RATE}]))",
                    "consumer {{queue}}",
                ),
                target(
                    f"sum by (service) (rate(chat_outbox_publish_batch_rows_sum[{RATE}])) / "
                    f"sum by (service) (rate(chat_outbox_publish_batch_rows_count[{RATE}]))",
                    "relay {{service}}",
                ),
            ],
            description="Send batches group-commit up to 100 commands; relay passes up to 500.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Publish failures/s",
            [
                target(
                    "sum by (service, exchange) "
                    f'(rate(chat_broker_published_messages_total{{outcome="failed"}}[{RATE}]))',
                    "{{service}} {{exchange}}",
                )
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Redeliveries, requeues and dead letters/s",
            [
                target(
                    f"sum by (queue) (rate(chat_consumer_redeliveries_total[{RATE}]))",
                    "redelivered {{queue}}",
                ),
                target(
                    f"sum by (queue) (rate(chat_consumer_requeued_total[{RATE}]))",
                    "requeued {{queue}}",
                ),
                target(
                    f"sum by (queue, reason) (rate(chat_consumer_dead_lettered_total[{RATE}]))",
                    "dead-lettered {{queue}} ({{reason}})",
                ),
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Handler time p99 by queue",
            [
                target(
                    "histogram_quantile(0.99, sum by (queue, le) "
                    f"(rate(chat_consumer_handler_seconds_bucket[{RATE}])))",
                    "{{queue}}",
                    exemplar=True,
                )
            ],
            unit="s",
        ),
        8,
        8,
    )

    lay.row("Presence")
    lay.add(
        stat(
            "Announcing leaders",
            "sum(presence_is_leader)",
            thresholds=[(None, "red"), (1, "green"), (2, "orange")],
            description="Exactly one replica must hold the announcer lock.",
        ),
        4,
        8,
    )
    lay.add(
        timeseries(
            "Connected users and gateways",
            [
                target("max(presence_connected_users)", "users"),
                target("max(presence_gateways)", "gateways"),
            ],
        ),
        10,
        8,
    )
    lay.add(
        timeseries(
            "Signals/s by type",
            [target(f"sum by (type) (rate(presence_signals_total[{RATE}]))", "{{type}}")],
            unit="ops",
        ),
        10,
        8,
    )
    lay.add(
        timeseries(
            "Signal -> presence.changed confirmed (p50 / p99)",
            quantiles("presence_announce_delay_seconds", "service"),
            unit="s",
        ),
        12,
        8,
    )
    lay.add(
        timeseries(
            "Changes announced/s by status",
            [
                target(
                    f"sum by (status) (rate(presence_changes_announced_total[{RATE}]))",
                    "{{status}}",
                )
            ],
            unit="ops",
        ),
        12,
        8,
    )

    lay.row("Broker (RabbitMQ)")
    lay.add(
        timeseries(
            "Messages ready by queue (top 10)",
            [
                target(
                    "topk(10, sum by (queue) (rabbitmq_detailed_queue_messages_ready))",
                    "{{queue}}",
                )
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Messages unacknowledged by queue (top 10)",
            [
                target(
                    "topk(10, sum by (queue) (rabbitmq_detailed_queue_messages_unacked))",
                    "{{queue}}",
                )
            ],
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Dead-letter queues",
            [
                target(
                    'sum by (queue) (rabbitmq_detailed_queue_messages{queue=~".+\\\\.dead"})',
                    "{{queue}}",
                )
            ],
            description="Anything here was refused or lost to its recipient: runbook "
            "chat-dead-letters-growing.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Consumers on the command shards",
            [
                target(
                    "sum by (queue) (rabbitmq_detailed_queue_consumers"
                    '{queue=~"message-service\\\\.(send|read)\\\\.[0-9]+"})',
                    "{{queue}}",
                )
            ],
            description="Single active consumer: each shard needs at least one.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Messages/s in and out",
            [
                target(f"sum(rate(rabbitmq_global_messages_received_total[{RATE}]))", "published"),
                target(f"sum(rate(rabbitmq_global_messages_delivered_total[{RATE}]))", "delivered"),
                target(f"sum(rate(rabbitmq_global_messages_confirmed_total[{RATE}]))", "confirmed"),
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Connections, channels and memory",
            [
                target("sum(rabbitmq_connections)", "connections"),
                target("sum(rabbitmq_channels)", "channels"),
                target(
                    "sum(rabbitmq_process_resident_memory_bytes) / "
                    "sum(rabbitmq_resident_memory_limit_bytes) * 100",
                    "memory % of the high watermark",
                ),
            ],
        ),
        8,
        8,
    )

    lay.row("Database (PostgreSQL)")
    lay.add(
        timeseries(
            "Connections used / max_connections",
            [target("chat:postgres_connections:ratio", "{{instance}}")],
            unit="percentunit",
            description="Alert ChatPostgresConnectionsHigh above 85%.",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Service pools: connections in use / pool maximum",
            [
                target(
                    'sum by (service, instance) (chat_db_pool_connections{state="in_use"}) / '
                    "sum by (service, instance) (chat_db_pool_max_connections)",
                    "{{service}} {{instance}}",
                )
            ],
            unit="percentunit",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Connections by database and state",
            [
                target(
                    either_exporter(
                        'sum by (datname, state) (pg_stat_activity_count{datname=~"chat_.*"})'
                    ),
                    "{{datname}} {{state}}",
                )
            ],
            stack=True,
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Transactions/s by database",
            [
                target(
                    either_exporter(
                        "sum by (datname) (rate(pg_stat_database_xact_commit"
                        f'{{datname=~"chat_.*"}}[{RATE}]))'
                    ),
                    "commit {{datname}}",
                ),
                target(
                    either_exporter(
                        "sum by (datname) (rate(pg_stat_database_xact_rollback"
                        f'{{datname=~"chat_.*"}}[{RATE}]))'
                    ),
                    "rollback {{datname}}",
                ),
            ],
            unit="ops",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Database size",
            [
                target(
                    either_exporter(
                        'sum by (datname) (pg_database_size_bytes{datname=~"chat_.*"})'
                    ),
                    "{{datname}}",
                )
            ],
            unit="bytes",
        ),
        8,
        8,
    )
    lay.add(
        timeseries(
            "Deadlocks and conflicts/s",
            [
                target(
                    either_exporter(
                        "sum by (datname) (rate(pg_stat_database_deadlocks"
                        f'{{datname=~"chat_.*"}}[{RATE}]))'
                    ),
                    "deadlocks {{datname}}",
                ),
                target(
                    either_exporter(
                        "sum by (datname) (rate(pg_stat_database_conflicts"
                        f'{{datname=~"chat_.*"}}[{RATE}]))'
                    ),
                    "conflicts {{datname}}",
                ),
            ],
            unit="ops",
        ),
        8,
        8,
    )

    return {
        "uid": "chat-overview",
        "title": "Chat: overview",
        "description": "Golden signals per service, the message path, presence, the broker and "
        "the database. Generated by deploy/observability/generate.py: edit it there.",
        "tags": ["chat"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "30s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "links": [],
        "annotations": {"list": []},
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Prometheus",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                },
                {
                    "name": "service",
                    "label": "Service",
                    "type": "query",
                    "datasource": DS,
                    "query": {
                        "query": 'label_values(up{service=~".+-service"}, service)',
                        "refId": "service",
                    },
                    "definition": 'label_values(up{service=~".+-service"}, service)',
                    "refresh": 2,
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".+",
                    "current": {"text": "All", "value": "$__all"},
                    "hide": 0,
                },
            ]
        },
        "panels": lay.panels,
    }


def prometheus_rule() -> str:
    """The PrometheusRule: the rules file's groups, indented under `spec:` (comments kept)."""
    lines = RULES.read_text(encoding="utf-8").splitlines()
    start = lines.index("groups:")
    body = "\n".join(("  " + line) if line else "" for line in lines[start:])
    return (
        "# Generated by deploy/observability/generate.py from\n"
        "# deploy/observability/prometheus/rules/chat.rules.yml: edit that file, then run it.\n"
        "apiVersion: monitoring.coreos.com/v1\n"
        "kind: PrometheusRule\n"
        "metadata:\n"
        "  name: chat\n"
        "  namespace: chat\n"
        "  labels: {app.kubernetes.io/part-of: chat, release: prometheus}\n"
        "spec:\n"
        f"{body}\n"
    )


def outputs() -> dict[Path, str]:
    return {
        DASHBOARD: json.dumps(dashboard(), indent=2, ensure_ascii=False) + "\n",
        PROMETHEUS_RULE: prometheus_rule(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            sys.stdout.write(f"wrote {path.relative_to(HERE.parent.parent)}\n")
    if stale:
        names = ", ".join(str(p.relative_to(HERE.parent.parent)) for p in stale)
        sys.stderr.write(f"stale: {names}; run python3 deploy/observability/generate.py\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
