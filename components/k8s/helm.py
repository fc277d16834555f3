"""Third-party Helm charts, pinned from the catalog (strait/catalog/data/charts.yaml).

Under mocks a Helm release renders nothing, so every release also records what it installs
(``release_record``) for readers of the plan.
"""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from strait.catalog.charts import ChartPin


def release_record(pin: ChartPin) -> dict:
    """What a Helm release installs, for readers of the plan (a Release renders nothing offline)."""
    return {"chart": pin.chart, "repository": pin.repository, "version": pin.version, "app_version": pin.app_version}


def helm_release(logical: str, release: str, namespace: str, pin: ChartPin, values: dict,
                 opts: pulumi.ResourceOptions, timeout_seconds: int = 900,
                 create_namespace: bool = False) -> k8s.helm.v3.Release:
    repo = k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository) if pin.repository else None
    return k8s.helm.v3.Release(logical, name=release, chart=pin.chart, version=pin.version, repository_opts=repo,
                               namespace=namespace, create_namespace=create_namespace, values=values, atomic=True,
                               cleanup_on_fail=True, timeout=timeout_seconds, max_history=5, opts=opts)


# --- hardening shared by the charts' values -------------------------------------------------------
# tests/helm renders every release with Helm and judges it with Checkov; what a chart cannot do is listed,
# per object and with its reason, in tests/helm/checkov-exceptions.yaml.

#: A UID above 10000 cannot collide with a host account (Checkov CKV_K8S_40); 65532 is distroless "nonroot".
NONROOT_UID = 65532


def pod_security(uid: int | None = NONROOT_UID, fs_group: int | None = None) -> dict:
    """Pod securityContext: non-root, the runtime's default seccomp profile. ``uid=None`` keeps the image's user."""
    out: dict = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    if uid is not None:
        out |= {"runAsUser": uid, "runAsGroup": uid}
    if fs_group is not None:
        out["fsGroup"] = fs_group
    return out


def container_security(read_only_root: bool = True) -> dict:
    """Container securityContext: no privilege escalation, every capability dropped, read-only root."""
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": read_only_root}


def resources(cpu: str, memory: str, memory_limit: str | None = None) -> dict:
    """CPU and memory requests, and a memory limit (no CPU limit: .checkov.yaml skips CKV_K8S_11 on purpose)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit or memory}}
