"""deploy/k8s as a cluster would take it (issue #22).

`kubectl kustomize` renders `deploy/k8s` and `deploy/k8s/monitoring` (plus the recovery manifest
that is applied by hand); every built-in resource must pass `kubernetes-validate --strict` for
Kubernetes 1.32 (unknown fields are errors), every custom resource the JSON Schema of its kind in
`deploy/k8s/schemas` (the operators' CRDs cannot be downloaded here). Then the rules the
manifests exist for: restricted pod security for every pod, requests and limits, disruption
budgets, autoscalers and topology spread, migrations only in Jobs under the advisory lock with
the Deployments waiting for the schema, the gateway's drain inside its grace period, and the
signing keys from a read-only Secret with its rotation. Without kubectl the module is skipped
with a message; nothing else here needs a cluster.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
RENDERED = [K8S, K8S / "monitoring"]
BY_HAND = [K8S / "recovery" / "chat-db-recovery.yaml"]  # applied by hand, not by kustomize
KUBERNETES_VERSION = "1.32.0"
KUBECTL = shutil.which("kubectl")

pytestmark = [
    pytest.mark.contract,
    pytest.mark.skipif(
        KUBECTL is None,
        reason="kubectl not installed: deploy/k8s is not rendered or validated here (install "
        "kubectl >= 1.27, which has kustomize built in, to run this module)",
    ),
]

Doc = dict[str, Any]
SERVICES = [
    "auth-service", "gateway-service", "message-service", "presence-service", "file-service",
]  # fmt: skip
# The restricted Pod Security Standard (Kubernetes docs, "Pod Security Standards").
ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip


@cache
def render(directory: Path) -> tuple[Doc, ...]:
    assert KUBECTL is not None
    done = subprocess.run(
        [KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"kubectl kustomize {directory}: {done.stderr}"
    return tuple(d for d in yaml.safe_load_all(done.stdout) if d)


def every_resource() -> list[tuple[str, Doc]]:
    out = [(str(d.relative_to(REPO)), doc) for d in RENDERED for doc in render(d)]
    for path in BY_HAND:
        out += [(str(path.relative_to(REPO)), d) for d in yaml.safe_load_all(path.read_text()) if d]
    return out


def main() -> tuple[Doc, ...]:
    return render(K8S)


def named(kind: str, name: str) -> Doc:
    found = [d for d in main() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def of_kind(kind: str) -> list[Doc]:
    return [d for d in main() if d["kind"] == kind]


def pod_specs() -> Iterator[tuple[str, Doc]]:
    """Every pod template of ours: Deployments, Jobs, CronJobs."""
    for doc in main():
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield name, doc["spec"]["template"]["spec"]
        elif doc["kind"] == "CronJob":
            yield name, doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def containers(spec: Doc) -> list[Doc]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: Doc) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


_REFERENCE = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def secret_key_refs(container: Doc) -> dict[str, Doc]:
    """Variable -> its secretKeyRef, for the variables set from a Secret."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def _from_a_secret(container: Doc, var: str) -> bool:
    """`var` is a secretKeyRef, or a value whose password the kubelet takes from one: it
    interpolates `$(X)` of a variable set earlier (the kubelet expands only those) from a
    Secret's `password` key, and every other variable it interpolates is a Secret's too."""
    env = container.get("env", [])
    position = next(i for i, e in enumerate(env) if e["name"] == var)
    entry = env[position]
    if "secretKeyRef" in entry.get("valueFrom", {}):
        return True
    references = _REFERENCE.findall(entry.get("value", ""))
    earlier = secret_key_refs({"env": env[:position]})
    return (
        bool(references)
        and all(r in earlier for r in references)
        and any(earlier[r]["key"] == "password" for r in references)
    )


# -- schemas --------------------------------------------------------------------------------------


@cache
def crd_schemas() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    """(apiVersion, kind) -> a validator of deploy/k8s/schemas, whose Kubernetes `$ref`s resolve
    to the definitions kubernetes-validate ships for KUBERNETES_VERSION (strict)."""
    from importlib.resources import files

    minor = ".".join(KUBERNETES_VERSION.split(".")[:2])
    bundled = files("kubernetes_validate") / "kubernetes-json-schema"
    definitions = json.loads(
        (bundled / f"v{minor}.0-local-strict" / "_definitions.json").read_text()
    )
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    out: dict[tuple[str, str], jsonschema.protocols.Validator] = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        key = (schema["properties"]["apiVersion"]["const"], schema["properties"]["kind"]["const"])
        assert path.name == f"{key[0].replace('/', '_')}_{key[1]}.json", path
        out[key] = jsonschema.Draft202012Validator(
            schema, registry=Resource.from_contents(schema) @ registry
        )
    return out


def problems(doc: Doc) -> list[str]:
    """Why `doc` would be refused: [] when valid."""
    key = (doc["apiVersion"], doc["kind"])
    validator = crd_schemas().get(key)
    if validator is not None:
        return [
            f"{'.'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(doc)
        ]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"no schema for {key[0]} {key[1]}: a custom resource needs "
            f"deploy/k8s/schemas/{key[0].replace('/', '_')}_{key[1]}.json"
        ]
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.absolute_path)) or '(root)'}: {exc.message}"]
    return []


def test_every_resource_is_valid_for_kubernetes_or_its_operator() -> None:
    found = every_resource()
    kinds = {d["kind"] for _, d in found}
    assert {"RabbitmqCluster", "Cluster", "ScheduledBackup", "ObjectStore"} <= kinds
    assert {
        "Deployment",
        "Job",
        "CronJob",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    } <= kinds
    bad = [
        f"{source}: {d['kind']}/{d['metadata'].get('name')}: {p}"
        for source, d in found
        for p in problems(d)
    ]
    assert bad == [], "\n".join(bad)


def test_the_validation_catches_the_usual_mistakes() -> None:
    """The checks above would fail on a misspelt field, a wrong type or value, in built-in and
    custom resources alike."""
    deployment = copy.deepcopy(named("Deployment", "auth-service"))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}
    assert any("resource" in p for p in problems(deployment))
    job = copy.deepcopy(named("Job", "auth-migrate"))
    job["spec"]["backoffLimit"] = "6"
    assert problems(job)
    cluster = copy.deepcopy(named("Cluster", "chat-db"))
    cluster["spec"]["postgresql"]["synchronous"]["method"] = "all"
    assert problems(cluster)
    cluster = copy.deepcopy(named("Cluster", "chat-db"))
    cluster["spec"]["instnaces"] = 3
    assert any("instnaces" in p for p in problems(cluster))
    rabbit = copy.deepcopy(named("RabbitmqCluster", "chat-rabbitmq"))
    rabbit["spec"]["persistence"]["storage"] = "20 GB"
    assert problems(rabbit)
    rabbit = copy.deepcopy(named("RabbitmqCluster", "chat-rabbitmq"))
    rabbit["spec"]["resources"]["limit"] = rabbit["spec"]["resources"].pop("limits")
    assert problems(rabbit)
    rabbit = copy.deepcopy(named("RabbitmqCluster", "chat-rabbitmq"))
    rabbit["spec"]["override"]["statefulSet"]["spec"]["template"]["spec"]["securityContext"][
        "runAsNonRot"
    ] = True
    assert problems(rabbit)
    backup = copy.deepcopy(named("ScheduledBackup", "chat-db-daily"))
    backup["spec"]["target"] = "standby"
    assert problems(backup)


# -- pod security ---------------------------------------------------------------------------------


def _restricted(name: str, spec: Doc, *, own: bool = True) -> list[str]:
    """What keeps a pod spec from the restricted standard (plus a read-only root filesystem and
    requests/limits for our own pods)."""
    out: list[str] = []
    pod = spec.get("securityContext", {})
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"{name}: {key}")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"{name}: volume {volume['name']} is {sorted(kinds)}")
    for sysctl in pod.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            out.append(f"{name}: sysctl {sysctl['name']}")
    for c in containers(spec):
        where = f"{name} container {c['name']}"
        sc = c.get("securityContext", {})
        if sc.get("runAsNonRoot", pod.get("runAsNonRoot")) is not True:
            out.append(f"{where}: runAsNonRoot")
        if sc.get("runAsUser", pod.get("runAsUser")) == 0:
            out.append(f"{where}: runAsUser 0")
        seccomp = sc.get("seccompProfile", pod.get("seccompProfile", {}))
        if seccomp.get("type") not in ("RuntimeDefault", "Localhost"):
            out.append(f"{where}: seccompProfile")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation")
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        caps = sc.get("capabilities", {})
        if "ALL" not in caps.get("drop", []):
            out.append(f"{where}: capabilities not all dropped")
        if set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            out.append(f"{where}: capabilities added {caps['add']}")
        if own:
            if sc.get("readOnlyRootFilesystem") is not True:
                out.append(f"{where}: root filesystem writable")
            resources = c.get("resources", {})
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(resources.get(part, {}))
                if missing:
                    out.append(f"{where}: no {part} for {sorted(missing)}")
    return out


def test_every_pod_meets_the_restricted_pod_security_standard() -> None:
    namespace = named("Namespace", "chat")["metadata"]["labels"]
    assert namespace["pod-security.kubernetes.io/enforce"] == "restricted"
    specs = list(pod_specs())
    names = {n for n, _ in specs}
    assert {f"Deployment/{s}" for s in [*SERVICES, "edge"]} <= names
    assert {
        "Job/auth-migrate", "Job/message-migrate", "Job/presence-migrate", "Job/file-migrate",
    } <= names  # fmt: skip
    assert "CronJob/auth-key-rotation" in names
    bad = [p for name, spec in specs for p in _restricted(name, spec)]
    # The RabbitMQ operator's pods: what the override adds to its StatefulSet.
    rabbit = named("RabbitmqCluster", "chat-rabbitmq")["spec"]["override"]["statefulSet"]
    bad += _restricted(
        "RabbitmqCluster/chat-rabbitmq", rabbit["spec"]["template"]["spec"], own=False
    )
    assert bad == [], "\n".join(bad)


def test_pods_do_not_get_an_api_token_they_do_not_use() -> None:
    for name, spec in pod_specs():
        if name == "CronJob/auth-key-rotation":
            assert spec["serviceAccountName"] == "auth-key-rotation"
        else:
            assert spec.get("automountServiceAccountToken") is False, name


# -- rolling, disruption, scaling -----------------------------------------------------------------


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, selector
    return all(labels.get(k) == v for k, v in selector["matchLabels"].items())


@pytest.mark.parametrize("name", [*SERVICES, "edge"])
def test_each_deployment_rolls_safely_has_a_budget_and_spreads(name: str) -> None:
    deployment = named("Deployment", name)
    spec = deployment["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["replicas"] >= 2
    budgets = [b for b in of_kind("PodDisruptionBudget") if _selects(b["spec"]["selector"], labels)]
    assert len(budgets) == 1, f"{name}: {len(budgets)} PodDisruptionBudgets"
    assert budgets[0]["spec"].get("maxUnavailable") == 1
    pod = spec["template"]["spec"]
    keys = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert {"kubernetes.io/hostname", "topology.kubernetes.io/zone"} <= set(keys)
    for constraint in keys.values():
        assert _selects(constraint["labelSelector"], labels)
        assert constraint.get("matchLabelKeys") == ["pod-template-hash"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] in ("/readyz", "/_edge/health")
    assert "preStop" in container["lifecycle"]


def test_autoscalers_follow_the_issue() -> None:
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"] for h in of_kind("HorizontalPodAutoscaler")
    }
    for target, spec in hpas.items():
        assert named("Deployment", target)
        assert spec["minReplicas"] >= 2
        assert spec["maxReplicas"] > spec["minReplicas"]
    # Presence: one active replica and a standby (advisory lock): not scaled.
    assert "presence-service" not in hpas
    gateway = {m["type"]: m for m in hpas["gateway-service"]["metrics"]}
    assert gateway["Pods"]["pods"]["metric"]["name"] == "gateway_connections"
    assert gateway["Resource"]["resource"]["name"] == "cpu"
    # Scaling a gateway in drains it: slowly.
    assert hpas["gateway-service"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    message = hpas["message-service"]
    assert [m["resource"]["name"] for m in message["metrics"]] == ["cpu"]
    # One replica per send shard at most (CHAT_SEND_SHARDS).
    shards = int(named("ConfigMap", "chat-config")["data"]["CHAT_SEND_SHARDS"])
    assert message["maxReplicas"] <= shards


# -- migrations -----------------------------------------------------------------------------------


def _host_service_name(service: str) -> str:
    """The `service_name` its settings default to: the host's migration lock is keyed on it."""
    import importlib

    module = importlib.import_module(f"{service.replace('-', '_')}.settings")
    settings = next(
        v for k, v in vars(module).items() if k.endswith("Settings") and k != "BaseServiceSettings"
    )
    return str(settings.model_fields["service_name"].default)


@pytest.mark.parametrize(
    "service", ["auth-service", "message-service", "presence-service", "file-service"]
)
def test_migrations_run_only_in_jobs_under_the_lock_and_pods_wait_for_them(service: str) -> None:
    deployment = named("Deployment", service)["spec"]["template"]["spec"]
    container = deployment["containers"][0]
    env = env_of(container)
    db_credentials = _database_credentials(container)
    # The service does not migrate at start (both spellings of the switch).
    migrate_flag = {"auth-service": "CHAT_MIGRATE_ON_START"}.get(service, "CHAT_RUN_MIGRATIONS")
    assert env[migrate_flag] == "false"
    config = f"/app/{service}/alembic.ini"
    (wait,) = deployment["initContainers"]
    assert wait["image"] == container["image"]
    assert wait["command"] == ["python", "-m", "chat_runtime.migrate", "wait", "--config", config]
    assert _database_credentials(wait) == db_credentials

    job = named("Job", f"{service.removesuffix('-service')}-migrate")["spec"]["template"]["spec"]
    (migrate,) = job["containers"]
    assert migrate["image"] == container["image"]
    assert migrate["command"] == [
        "python", "-m", "chat_runtime.migrate", "upgrade", "--config", config,
        "--lock", _host_service_name(service),
    ]  # fmt: skip
    assert _database_credentials(migrate) == db_credentials
    # The image keeps the service directory (alembic.ini and migrations) where the Job looks.
    dockerfile = (REPO / service / "Dockerfile").read_text()
    assert f"COPY --chown=chat:chat {service}/ /app/{service}/" in dockerfile


# -- drain, keys ----------------------------------------------------------------------------------


def test_the_gateway_drains_within_its_grace_period() -> None:
    from gateway_service.settings import GatewaySettings

    pod = named("Deployment", "gateway-service")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = env_of(container)
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = float(env.get("CHAT_DRAIN_MAX_S", GatewaySettings.model_fields["drain_max_s"].default))
    uvicorn_graceful = 10  # gateway_service.__main__: timeout_graceful_shutdown
    needed = float(pre_stop[1]) + drain + uvicorn_graceful
    assert pod["terminationGracePeriodSeconds"] >= needed + 5, needed
    main_py = (REPO / "gateway-service/src/gateway_service/__main__.py").read_text()
    assert f"timeout_graceful_shutdown={uvicorn_graceful}," in main_py
    assert "drain=_drain" in main_py


def test_auth_reads_its_keys_from_a_read_only_secret_rotated_by_a_cronjob() -> None:
    pod = named("Deployment", "auth-service")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = env_of(container)
    assert env["CHAT_AUTH_KEYS_READ_ONLY"] == "true"
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == env["CHAT_AUTH_KEYS_DIR"]]
    assert mount["readOnly"] is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    secret = volume["secret"]["secretName"]
    assert volume["secret"]["defaultMode"] & 0o077 == 0o040  # owner and fsGroup read, no more
    assert pod["securityContext"]["fsGroup"] == pod["securityContext"]["runAsGroup"]

    cron = named("CronJob", "auth-key-rotation")["spec"]
    assert cron["concurrencyPolicy"] == "Forbid"
    job = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"][-4:] == [
        "auth_service",
        "rotate-keys",
        "--secret",
        secret,
    ]
    assert job["containers"][0]["image"] == container["image"]
    rules = named("Role", "auth-key-rotation")["rules"]
    named_rules = [r for r in rules if r.get("resourceNames")]
    assert named_rules == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret],
         "verbs": ["get", "update"]}
    ]  # fmt: skip
    binding = named("RoleBinding", "auth-key-rotation")
    assert binding["subjects"][0]["name"] == job["serviceAccountName"]


# -- files ----------------------------------------------------------------------------------------


def test_file_service_has_its_database_store_link_key_and_edge_route() -> None:
    pod = named("Deployment", "file-service")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = env_of(container)
    assert env["CHAT_DATABASE_URL"].endswith("@chat-db-rw.chat.svc:5432/chat_files")
    assert {"chat-amqp-file", "chat-db-file", "chat-file-link"} <= _secret_refs(container)
    # The database exists in new clusters and old ones alike: a Database resource, its owner
    # file-service's own role.
    database = named("Database", "chat-files")["spec"]
    assert (database["name"], database["cluster"]["name"]) == ("chat_files", "chat-db")
    assert database["owner"] == "chat_files_owner"
    # The store: a volume every replica mounts writable (the root filesystem is read-only).
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == env["CHAT_FILE_DIR"]]
    assert not mount.get("readOnly")
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = named("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert named("Deployment", "file-service")["spec"]["replicas"] > 1
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "replicas share the store"
    # One link key for file-service and message-service.
    message_pod = named("Deployment", "message-service")["spec"]["template"]["spec"]
    message = env_of(message_pod["containers"][0])
    assert env["CHAT_FILE_LINK_KEY"] == message["CHAT_FILE_LINK_KEY"]
    assert env["CHAT_FILE_LINK_KEY"]["secretKeyRef"]["name"] == "chat-file-link"
    # The edge routes /v1/files there and lets an upload of the largest size through.
    edge = env_of(named("Deployment", "edge")["spec"]["template"]["spec"]["containers"][0])
    assert edge["EDGE_FILE_SERVERS"] == "server file-service.chat.svc.cluster.local:8005;"
    assert int(edge["EDGE_FILE_MAX_BODY"]) == int(env["CHAT_FILE_MAX_BYTES"]) + 1024 * 1024
    service = named("Service", "file-service")["spec"]
    assert service["ports"] == [{"name": "http", "port": 8005, "targetPort": "http"}]
    policy = named("NetworkPolicy", "services-from-edge")["spec"]
    assert "file-service" in policy["podSelector"]["matchExpressions"][0]["values"]


# -- client address, anti-automation at the edge (issue #20) ------------------------------------


def test_the_edge_sees_the_clients_address() -> None:
    """externalTrafficPolicy Local: no SNAT on the way in, so the edge's per-address zones and
    auth-service's per-address throttle count each client, not one node address for all."""
    service = named("Service", "edge")["spec"]
    assert service["type"] == "LoadBalancer"
    assert service["externalTrafficPolicy"] == "Local"


def test_only_the_edge_is_trusted_for_the_client_address() -> None:
    import ipaddress

    trusted = named("ConfigMap", "chat-config")["data"]["CHAT_TRUSTED_PROXIES"].split(",")
    for entry in trusted:
        network = ipaddress.ip_network(entry.strip(), strict=False)
        # A pod network at most: never 10.0.0.0/8 or everything.
        assert network.prefixlen >= 16, entry
    # Within it, only the edge reaches the services' HTTP ports; our other pods reach auth-service
    # on 8443 (JWKS over TLS, issue #20) and Prometheus scrapes, nothing else.
    policy = named("NetworkPolicy", "services-from-edge")["spec"]
    assert set(policy["podSelector"]["matchExpressions"][0]["values"]) == set(SERVICES)
    assert policy["policyTypes"] == ["Ingress"]
    for rule in policy["ingress"]:
        sources = rule["from"]
        if "ports" not in rule:
            assert sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "edge"}}}]
        elif sources == [{"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "chat"}}}]:
            assert rule["ports"] == [{"port": 8443}]
        else:
            assert sources[0]["namespaceSelector"]["matchLabels"] == {
                "kubernetes.io/metadata.name": "monitoring"
            }


def test_the_edge_limits_are_the_images_production_values() -> None:
    import re

    dockerfile = (REPO / "deploy" / "nginx" / "Dockerfile").read_text()
    image = dict(re.findall(r'\b(EDGE_[A-Z_]+)=("[^"]*"|\S+)', dockerfile))
    edge = env_of(named("Deployment", "edge")["spec"]["template"]["spec"]["containers"][0])
    zone = re.compile(r"EDGE_(AUTH|WRITE|WS|UPLOAD|RETRY)_(RATE|BURST|CONN|AFTER)$")
    limits = {k: v for k, v in edge.items() if zone.match(k)}
    assert set(limits) == {
        "EDGE_AUTH_RATE", "EDGE_AUTH_BURST", "EDGE_WRITE_RATE", "EDGE_WRITE_BURST",
        "EDGE_WS_RATE", "EDGE_WS_BURST", "EDGE_WS_CONN", "EDGE_UPLOAD_RATE", "EDGE_UPLOAD_BURST",
        "EDGE_UPLOAD_CONN", "EDGE_RETRY_AFTER",
    }  # fmt: skip
    assert all(image[k] == v for k, v in limits.items()), (image, limits)
    # No client address is exempt in a cluster.
    assert edge.get("EDGE_LIMIT_EXEMPT", "") == ""
    assert image["EDGE_LIMIT_EXEMPT"] == '""'


# -- secrets and internal TLS (issue #20) ---------------------------------------------------------


def _settings_class(service: str) -> Any:
    import importlib

    pkg = service.replace("-", "_")
    module = importlib.import_module(f"{pkg}.settings")
    names = [n for n in dir(module) if n.endswith("Settings") and n != "BaseServiceSettings"]
    return getattr(module, names[0])


def test_every_secret_of_a_service_comes_from_a_secret() -> None:
    """Each setting a service names as a secret (`secret_fields`, refused in prod when default)
    is set from a Secret, never from a literal or left out."""
    for service in SERVICES:
        spec = named("Deployment", service)["spec"]["template"]["spec"]
        container = next(c for c in spec["containers"] if c["name"] == service)
        env = env_of(container)
        for field in _settings_class(service).secret_fields:
            var = f"CHAT_{field.upper()}"
            assert var in env, f"{service}: {var} not set"
            assert _from_a_secret(container, var), f"{service}: {var} must come from a Secret"


def test_internal_links_use_tls_checked_against_a_mounted_ca() -> None:
    config = named("ConfigMap", "chat-config")["data"]
    assert config["CHAT_JWKS_URL"].startswith("https://auth-service.chat.svc:8443/")
    assert config["CHAT_JWKS_CA_FILE"] == config["CHAT_AMQP_CA_FILE"] == (
        "/etc/chat/tls/internal-ca.crt"
    )
    for name, spec in pod_specs():
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(spec):
            env = env_of(container)
            mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
            uses_config = any(
                e.get("configMapRef", {}).get("name") == "chat-config"
                for e in container.get("envFrom", [])
            )
            if "CHAT_DATABASE_URL" in env:
                assert env.get("CHAT_DATABASE_CA_FILE") == "/etc/chat/tls/db-ca.crt", (
                    f"{name}/{container['name']}: the database link without TLS"
                )
            if "CHAT_DATABASE_URL" in env or uses_config:
                assert mounts.get("internal-tls") == "/etc/chat/tls", (
                    f"{name}/{container['name']}: the CA bundles are not mounted"
                )
        if "internal-tls" in volumes:
            sources = volumes["internal-tls"]["projected"]["sources"]
            assert {s["secret"]["name"] for s in sources} == {"chat-internal-ca", "chat-db-ca"}
    rabbit = named("RabbitmqCluster", "chat-rabbitmq")["spec"]["tls"]
    assert rabbit == {"secretName": "chat-rabbitmq-tls", "disableNonTLSListeners": True}
    db = named("Cluster", "chat-db")["spec"]["postgresql"]
    assert "hostnossl all all all reject" in db["pg_hba"]
    auth = named("Deployment", "auth-service")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(auth)["CHAT_TLS_PORT"] == "8443"
    auth_names = named("Certificate", "auth-service-tls")["spec"]["dnsNames"]
    assert "auth-service.chat.svc" in auth_names
    issuer = named("Certificate", "chat-rabbitmq-tls")["spec"]["issuerRef"]["name"]
    assert issuer == "chat-internal-ca"


# -- one account per service (issue #20 item 2, ADR 0015) -----------------------------------------

# The table's service name -> its database (gateway-service has none).
DATABASES = {
    "auth": "chat_auth", "message": "chat_messages", "presence": "chat_presence",
    "file": "chat_files",
}  # fmt: skip
AMQP_URL = "amqps://$(AMQP_USERNAME):$(AMQP_PASSWORD)@chat-rabbitmq.chat.svc:5671/"
DATABASE_URL = "postgresql+asyncpg://$(DB_USERNAME):$(DB_PASSWORD)@chat-db-rw.chat.svc:5432/{db}"
# Secrets of one service's credentials; chat-db-ca is CloudNativePG's CA, not a credential.
CREDENTIALS = re.compile(r"^chat-(amqp|db|database)(-.*)?$")


def _secret_refs(container: Doc) -> set[str]:
    """Every Secret a container's environment reads."""
    out = {ref["name"] for ref in secret_key_refs(container).values()}
    out |= {e["secretRef"]["name"] for e in container.get("envFrom", []) if "secretRef" in e}
    return out


def _pod_secrets(spec: Doc) -> set[str]:
    """Every Secret a pod reads: its containers' environment and its volumes."""
    out = {name for c in containers(spec) for name in _secret_refs(c)}
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            out.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                out.add(source["secret"]["name"])
    return out


def _database_credentials(container: Doc) -> tuple[str, dict[str, Doc]]:
    refs = secret_key_refs(container)
    return env_of(container)["CHAT_DATABASE_URL"], {
        k: refs[k] for k in ("DB_USERNAME", "DB_PASSWORD")
    }


def _service_of(pod: str) -> str | None:
    """The table's service whose credentials a pod may use: a service's Deployment and its
    migration Job; None for every other pod."""
    kind, name = pod.split("/", 1)
    if kind == "Deployment" and name in SERVICES:
        return name.removesuffix("-service")
    if kind == "Job" and name.endswith("-migrate"):
        return name.removesuffix("-migrate")
    return None


def test_broker_accounts_yaml_is_generated_from_the_table() -> None:
    from chat_devtools.k8s_accounts import render as render_accounts

    assert (K8S / "broker-accounts.yaml").read_text() == render_accounts(), (
        "regenerate: .venv/bin/python -m chat_devtools.k8s_accounts > "
        "deploy/k8s/broker-accounts.yaml"
    )
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "broker-accounts.yaml" in kustomization["resources"]


def test_each_broker_account_is_a_user_with_the_tables_permissions() -> None:
    from chat_contracts import names
    from chat_runtime.messaging.accounts import broker_accounts

    cluster = {"name": "chat-rabbitmq", "namespace": "chat"}
    assert named("RabbitmqCluster", cluster["name"])["metadata"]["namespace"] == "chat"
    accounts = broker_accounts()
    assert {a.user for a in accounts} == set(SERVICES)
    users = {d["metadata"]["name"]: d["spec"] for d in of_kind("User")}
    permissions = {d["spec"]["user"]: d["spec"] for d in of_kind("Permission")}
    topics = {d["spec"]["user"]: d["spec"] for d in of_kind("TopicPermission")}
    assert set(users) == set(permissions) == set(topics) == {a.user for a in accounts}
    for account in accounts:
        assert users[account.user] == {
            "rabbitmqClusterReference": cluster,
            "importCredentialsSecret": {"name": f"chat-amqp-{account.service}"},
        }  # no tags: not an administrator, no management UI
        assert permissions[account.user] == {
            "vhost": "/",
            "user": account.user,
            "permissions": {
                "configure": account.configure, "write": account.write, "read": account.read,
            },
            "rabbitmqClusterReference": cluster,
        }  # fmt: skip
        assert topics[account.user] == {
            "vhost": "/",
            "user": account.user,
            "permissions": {
                "exchange": names.EXCHANGE_EVENTS,
                "write": account.topic_write,
                "read": account.topic_read,
            },
            "rabbitmqClusterReference": cluster,
        }
    # The schemas catch a misspelt permission and a Permission without its user.
    permission = copy.deepcopy(of_kind("Permission")[0])
    permission["spec"]["permissions"]["writes"] = ".*"
    assert problems(permission)
    permission = copy.deepcopy(of_kind("Permission")[0])
    del permission["spec"]["user"]
    assert problems(permission)
    topic = copy.deepcopy(of_kind("TopicPermission")[0])
    del topic["spec"]["permissions"]["exchange"]
    assert problems(topic)


def test_every_pod_uses_only_its_own_services_credentials() -> None:
    seen: set[str] = set()
    for pod, spec in pod_specs():
        service = _service_of(pod)
        credentials = {s for s in _pod_secrets(spec) if CREDENTIALS.match(s)} - {"chat-db-ca"}
        if service is None:
            assert credentials == set(), f"{pod}: {sorted(credentials)}"
            continue
        seen.add(service)
        expected = {f"chat-db-{service}"} if service in DATABASES else set()
        if pod.startswith("Deployment/"):
            expected.add(f"chat-amqp-{service}")  # migrations never touch the broker
        assert credentials == expected, f"{pod}: {sorted(credentials)}"
        for container in containers(spec):
            env = env_of(container)
            refs = secret_key_refs(container)
            if "CHAT_AMQP_URL" in env:
                assert env["CHAT_AMQP_URL"] == AMQP_URL, pod
                assert refs["AMQP_USERNAME"] == {"name": f"chat-amqp-{service}", "key": "username"}
                assert refs["AMQP_PASSWORD"] == {"name": f"chat-amqp-{service}", "key": "password"}
                assert _from_a_secret(container, "CHAT_AMQP_URL"), f"{pod}: $(...) order"
            if "CHAT_DATABASE_URL" in env:
                assert env["CHAT_DATABASE_URL"] == DATABASE_URL.format(db=DATABASES[service])
                assert refs["DB_USERNAME"] == {"name": f"chat-db-{service}", "key": "username"}
                assert refs["DB_PASSWORD"] == {"name": f"chat-db-{service}", "key": "password"}
                assert _from_a_secret(container, "CHAT_DATABASE_URL"), f"{pod}: $(...) order"
    assert seen == {s.removesuffix("-service") for s in SERVICES}


def test_services_leave_the_topology_to_the_administrator_and_commands_to_the_gateway() -> None:
    from chat_contracts import names
    from chat_runtime.messaging.accounts import askers, gateway_user

    for service in SERVICES:
        container = named("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
        env = env_of(container)
        assert env["CHAT_AMQP_DECLARE_TOPOLOGY"] == "false", service
        if service == "message-service":
            assert env["CHAT_COMMAND_SENDER"] == gateway_user() == "gateway-service"
            assert env["CHAT_QUERY_SENDERS"] == ",".join(askers(names.MESSAGE_QUERY_QUEUE))
        else:
            assert "CHAT_COMMAND_SENDER" not in env, service
            assert "CHAT_QUERY_SENDERS" not in env, service


def test_the_topology_job_declares_as_the_administrator() -> None:
    job = named("Job", "broker-topology")
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
    spec = job["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["command"] == ["python", "-m", "chat_runtime.provision", "topology"]
    images = {named("Deployment", s)["spec"]["template"]["spec"]["containers"][0]["image"]
              for s in SERVICES}  # fmt: skip
    assert container["image"] in images
    env = env_of(container)
    refs = secret_key_refs(container)
    assert env["CHAT_AMQP_URL"] == AMQP_URL
    assert refs["AMQP_USERNAME"] == {"name": "chat-rabbitmq-default-user", "key": "username"}
    assert refs["AMQP_PASSWORD"] == {"name": "chat-rabbitmq-default-user", "key": "password"}
    assert _from_a_secret(container, "CHAT_AMQP_URL")
    config = named("ConfigMap", "chat-config")["data"]
    for key in ("CHAT_SEND_SHARDS", "CHAT_AMQP_CA_FILE"):
        assert env[key] == {"configMapKeyRef": {"name": "chat-config", "key": key}}, key
        assert key in config
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["internal-tls"] == "/etc/chat/tls"
    assert config["CHAT_AMQP_CA_FILE"].startswith("/etc/chat/tls/")
    assert "CHAT_AMQP_DECLARE_TOPOLOGY" not in env  # it declares (the default)


def _hba_decision(lines: list[str], database: str, user: str, ssl: bool) -> str:
    """The method of the first of our pg_hba lines a TCP connection matches (CloudNativePG
    puts them between its own first rules, local and streaming_replica only, and its final
    `host all all all scram-sha-256`): "fallthrough" when none matches."""
    for line in lines:
        kind, databases, users, _address, method, *_ = line.split()
        if (kind == "hostssl" and not ssl) or (kind == "hostnossl" and ssl):
            continue
        if databases != "all" and database not in databases.split(","):
            continue
        if users != "all" and user not in users.split(","):
            continue
        return method
    return "fallthrough"


def test_each_database_role_owns_its_database_and_reaches_only_it() -> None:
    from chat_runtime.messaging.accounts import database_role

    cluster = named("Cluster", "chat-db")["spec"]
    recovery = next(
        d for source, d in every_resource() if d["kind"] == "Cluster" and "recovery" in source
    )["spec"]
    owners = {db: database_role(db) for db in DATABASES.values()}
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    assert set(roles) == set(owners.values())
    for service, db in DATABASES.items():
        role = roles[owners[db]]
        assert role["login"] is True
        assert role.get("ensure", "present") == "present"
        for power in ("superuser", "createdb", "createrole", "replication", "bypassrls"):
            assert role.get(power, False) is False, (role["name"], power)
        assert role["passwordSecret"] == {"name": f"chat-db-{service}"}
    # Every database by a Database resource, owned by its role; a new cluster's first one too.
    databases = {d["spec"]["name"]: d["spec"] for d in of_kind("Database")}
    assert set(databases) == set(owners)
    for db, spec in databases.items():
        assert spec["owner"] == owners[db]
        assert spec["cluster"] == {"name": "chat-db"}
        assert (spec["ensure"], spec["databaseReclaimPolicy"]) == ("present", "retain")
    initdb = cluster["bootstrap"]["initdb"]
    assert initdb["owner"] == owners[initdb["database"]]
    assert initdb["secret"] == {"name": "chat-db-auth"}
    assert "chat " not in " ".join(initdb.get("postInitSQL", [])) + " "  # no shared `chat` role
    # The recovered cluster gets the same roles and rules.
    assert recovery["managed"] == cluster["managed"]
    assert recovery["postgresql"]["pg_hba"] == cluster["postgresql"]["pg_hba"]

    hba = cluster["postgresql"]["pg_hba"]
    assert hba[0] == "hostnossl all all all reject"
    assert not [line for line in hba if "trust" in line.split()]
    for db, owner in owners.items():
        assert _hba_decision(hba, db, owner, ssl=True) == "scram-sha-256"
        assert _hba_decision(hba, db, owner, ssl=False) == "reject"
        for other in {*owners.values(), "chat", "postgres", "app"} - {owner}:
            assert _hba_decision(hba, db, other, ssl=True) == "reject", (db, other)
        # An owner reaches no other database, not even postgres over TCP.
        assert _hba_decision(hba, "postgres", owner, ssl=True) == "reject"
    # Anything else over TLS falls through to CloudNativePG's own rules (a password).
    assert _hba_decision(hba, "postgres", "postgres", ssl=True) == "fallthrough"
