"""Pod-spec pieces every Strait workload shares (pure functions returning dicts)."""
from __future__ import annotations

from components.aws.gpu_node_pool import GPU_TAINT_KEY

GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}

POD_SECURITY = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000,
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
