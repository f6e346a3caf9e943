"""The backup pieces of deploy/ fit together: the CloudNativePG cluster archives its WAL to the
ObjectStore a ScheduledBackup and the recovery manifest use; kustomize applies the backup; the
compose backup and restore services cover every database compose creates, the signing keys and
the file store, and run the script beside them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
PLUGIN = "barman-cloud.cloudnative-pg.io"


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str) -> dict[str, Any]:
    [doc] = [d for d in documents(path) if d["kind"] == kind]
    return doc


def archiver(cluster: dict[str, Any]) -> dict[str, Any]:
    [plugin] = [p for p in cluster["spec"]["plugins"] if p.get("isWALArchiver")]
    assert plugin["name"] == PLUGIN
    params: dict[str, Any] = plugin["parameters"]
    return params


def test_the_cluster_archives_to_the_store_the_scheduled_backup_uses() -> None:
    cluster = one(K8S / "postgres.yaml", "Cluster")
    store = one(K8S / "backup.yaml", "ObjectStore")
    scheduled = one(K8S / "backup.yaml", "ScheduledBackup")
    assert archiver(cluster)["barmanObjectName"] == store["metadata"]["name"]
    assert re.fullmatch(r"[1-9][0-9]*[dwm]", store["spec"]["retentionPolicy"])
    assert store["spec"]["configuration"]["destinationPath"].startswith("s3://")
    assert scheduled["spec"]["cluster"]["name"] == cluster["metadata"]["name"]
    assert scheduled["spec"]["method"] == "plugin"
    assert scheduled["spec"]["pluginConfiguration"]["name"] == PLUGIN
    assert len(scheduled["spec"]["schedule"].split()) == 6, "CloudNativePG wants seconds first"
    resources = yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"]
    assert "backup.yaml" in resources
    assert resources.index("backup.yaml") > resources.index("postgres.yaml")


def test_the_recovery_reads_the_old_server_and_archives_under_a_new_name() -> None:
    cluster = one(K8S / "postgres.yaml", "Cluster")
    recovery = one(K8S / "recovery" / "chat-db-recovery.yaml", "Cluster")
    store = one(K8S / "backup.yaml", "ObjectStore")["metadata"]["name"]
    source = recovery["spec"]["bootstrap"]["recovery"]["source"]
    [external] = [c for c in recovery["spec"]["externalClusters"] if c["name"] == source]
    assert external["plugin"]["parameters"] == {
        "barmanObjectName": store,
        "serverName": cluster["metadata"]["name"],
    }
    assert archiver(recovery)["barmanObjectName"] == store
    assert archiver(recovery)["serverName"] != cluster["metadata"]["name"]
    assert recovery["metadata"]["name"] == cluster["metadata"]["name"]
    assert recovery["spec"]["postgresql"] == cluster["spec"]["postgresql"]


@pytest.mark.parametrize("name", ["backup", "restore"])
def test_compose_backups_cover_every_database_the_keys_and_the_files(name: str) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    service = compose["services"][name]
    created = re.findall(
        r"CREATE DATABASE (\w+)",
        (REPO / "deploy" / "compose" / "postgres-init" / "01-databases.sql").read_text(),
    )
    env = service["environment"]
    assert env["CHAT_BACKUP_DATABASES"].split() == created
    mounts = {v.split(":")[1]: v for v in service["volumes"]}
    keys_mount = compose["services"]["auth-service"]["environment"]["CHAT_AUTH_KEYS_DIR"]
    assert env["CHAT_BACKUP_KEYS_DIR"] == keys_mount
    assert mounts[keys_mount].startswith("auth-keys:")
    assert mounts[env["CHAT_BACKUP_FILE_DIR"]].startswith("files:")
    assert mounts["/opt/chat/backup.sh"].startswith("./deploy/compose/backup.sh:")
    assert (REPO / "deploy" / "compose" / "backup.sh").is_file()
    expected = {"postgres": {"condition": "service_healthy"}}
    if name == "restore":  # the owner roles exist before a restore gives them the databases
        expected["database-owners"] = {"condition": "service_completed_successfully"}
    assert service["depends_on"] == expected
    if name == "restore":
        assert service["profiles"] == ["restore"], "`up` must never start a restore"
        assert not mounts[keys_mount].endswith(":ro")
    else:
        assert mounts[keys_mount].endswith(":ro")
        assert "check" in service["healthcheck"]["test"]
