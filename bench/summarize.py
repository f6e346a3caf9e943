"""Print one line per messaging result file: delivery p50/p99/max, ack p99, CPU ms per sent
message per process (gw, msg, mq, pg, edge, gen, total), busy cores, the cores busy with work
outside the stack and the generator (`outside`: other processes on the machine) and load average.

    .venv/bin/python bench/summarize.py bench/results/messaging-2026-12-06-s14-*.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def row(r: dict[str, Any]) -> dict[str, Any]:
    sent = r["sent"] or 1
    services, infra = r["service_cpu_s"], r["infra_cpu_s"]

    def per(v: float) -> float:
        return round(v * 1000 / sent, 2)

    return {
        "commit": r["commit"],
        "sent": r["sent"],
        "acked": r["acked"],
        "lost": r["lost"],
        "dup": r["duplicated"],
        "acked_not_persisted": r["acked_not_persisted"],
        "p50": r["delivery_ms"]["p50"],
        "p99": r["delivery_ms"]["p99"],
        "max": r["delivery_ms"]["max"],
        "ack_p99": r["ack_ms"]["p99"],
        "gw": per(services.get("gateway", 0.0)),
        "msg": per(services.get("message", 0.0)),
        "auth+pres": per(services.get("auth", 0.0) + services.get("presence", 0.0)),
        "mq": per(infra.get("rabbitmq", 0.0)),
        "pg": per(infra.get("postgres", 0.0)),
        "edge": per(infra.get("edge", 0.0)),
        "gen": per(r["load_generator_cpu_s"]),
        "stack": per(r["total_cpu_s"] - r["load_generator_cpu_s"]),
        "total": per(r["total_cpu_s"]),
        "busy": r["machine"]["busy_cores"],
        # Cores busy with anything but the stack and the generator (other work on the machine).
        "outside": round(r["machine"]["busy_cores"] - r["total_cpu_s"] / r["window_s"], 2),
        "load1": r["load_average_1m"],
    }


def markdown(name: str, r: dict[str, Any]) -> str:
    """A row of docs/performance.md's tables."""
    return (
        f"| `{name}` | {r['commit']} | {r['sent']} / {r['acked']} | {r['lost']} / {r['dup']} | "
        f"{r['p50']:.0f} / {r['p99']:.0f} / {r['max']:.0f} | {r['gw']:.2f} · {r['msg']:.2f} · "
        f"{r['mq']:.2f} · {r['pg']:.2f} · {r['edge']:.2f} · **{r['stack']:.2f}** | "
        f"{r['gen']:.2f} | **{r['total']:.2f}** | {r['busy']:.2f} / {r['outside']:.2f} | "
        f"{r['load1']} |"
    )


def main(paths: list[str]) -> None:
    as_markdown = "--markdown" in paths
    rows = []
    for path in (p for p in paths if p != "--markdown"):
        r = row(json.loads(Path(path).read_text()))
        rows.append(r)
        if as_markdown:
            name = Path(path).name.removeprefix("messaging-").removesuffix(".json")
            print(markdown(name, r))
        else:
            print(Path(path).name, " ".join(f"{k}={v}" for k, v in r.items()))
    if len(rows) > 1:
        keys = [k for k, v in rows[0].items() if isinstance(v, int | float)]
        med = {k: round(statistics.median(r[k] for r in rows), 2) for k in keys}
        print("median", " ".join(f"{k}={v}" for k, v in med.items()))


if __name__ == "__main__":
    main(sys.argv[1:])
