"""Pod-spec pieces every Strait workload shares (pure functions returning dicts)."""
from __future__ import annotations

from strait.gpu_labels import GPU_TOLERATION

__all__ = ["CONTAINER_SECURITY", "GPU_TOLERATION", "POD_SECURITY", "pdb_spec"]

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


# NetworkPolicies live in strait/render/netpol.py.
