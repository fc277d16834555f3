"""Pod-spec pieces every Strait workload shares (pure functions returning dicts)."""
from __future__ import annotations

from strait.gpu_labels import GPU_TOLERATION

__all__ = ["CONTAINER_SECURITY", "GPU_TOLERATION", "POD_SECURITY", "SCRAPER_LABEL", "ingress_policy", "pdb_spec"]

#: A UID above 10000 cannot collide with a host user.
POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}


def pdb_spec(replicas: int, selector: dict[str, str]) -> dict:
    """A PDB that protects capacity without ever blocking a node drain.

    One replica: ``maxUnavailable: 1`` (``minAvailable: 1`` would block drains forever).
    Several: still ``maxUnavailable: 1``, so drains proceed one replica at a time; and
    ``AlwaysAllow`` lets a drain evict pods that are not ready anyway (a crash-looping pod
    must not hold a node hostage).
    """
    return {"maxUnavailable": 1, "selector": {"matchLabels": selector},
            "unhealthyPodEvictionPolicy": "AlwaysAllow"}


#: Namespaces labelled with this may scrape model servers' /metrics (Prometheus lives there).
SCRAPER_LABEL = "strait.dev/metrics-scraper"


def ingress_policy(selector: dict[str, str], port: int, from_namespaces: list[str]) -> dict:
    """NetworkPolicy spec: only the named namespaces (and metrics scrapers) may reach ``port``."""
    peers = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}} for ns in from_namespaces]
    peers.append({"namespaceSelector": {"matchLabels": {SCRAPER_LABEL: "true"}}})
    return {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
            "ingress": [{"from": peers, "ports": [{"port": port, "protocol": "TCP"}]}]}
