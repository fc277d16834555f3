"""Table-driven cases for the KEDA policies (strait-keda-max-within-pool, strait-keda-cron-window-valid) and the
spend cap with autoscaled pools. tests/policies/test_rules.py runs them with every other rule's cases."""
from __future__ import annotations

import copy
from typing import Any

from policies.views import Res
from tests.policies.builders import deployment, node_group, vllm_args


def scaled_object(target="qwen32b-deploy", max_replicas=3, min_replicas=1, cron=(), namespace="serving",
                  name=None) -> Res:
    name = name or target
    triggers: list[dict[str, Any]] = [{"type": "prometheus", "metadata": {"query": "sum(x)", "threshold": "4",
                                                                          "serverAddress": "http://p:9090"}}]
    triggers += [{"type": "cron", "metadata": {"timezone": tz, "start": s, "end": e, "desiredReplicas": str(r)}}
                 for tz, s, e, r in cron]
    return Res(urn=f"urn:pulumi:s::p::kubernetes:keda.sh/v1alpha1:ScaledObject::{name}",
               type="kubernetes:keda.sh/v1alpha1:ScaledObject", name=name,
               props={"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                      "metadata": {"name": name, "namespace": namespace},
                      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                               "minReplicaCount": float(min_replicas), "maxReplicaCount": float(max_replicas),
                               "triggers": triggers}})


def one_per_node(res: Res) -> Res:
    """The model server's required hostname anti-affinity on its own labels."""
    r = copy.deepcopy(res)
    tpl = r.props["spec"]["template"]
    tpl["spec"]["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": dict(tpl["metadata"]["labels"])}, "topologyKey": "kubernetes.io/hostname"}]}}
    return r


POOL = node_group(max_size=3)  # 3 x g4dn.12xlarge (4 T4 each), pool t4x4
TP1 = dict(gpus=1, args=vllm_args(tp=1))
JKT = ("Asia/Jakarta", "42 8 * * 1-5", "0 18 * * 1-5", 2)

KEDA_CASES = {
    # --- max replicas within the pool ---------------------------------------------------------------------
    "keda: 3 replicas of a 4-GPU server on 3 nodes": ("strait-keda-max-within-pool",
                                                      [POOL, deployment(), scaled_object(max_replicas=3)], {}, []),
    "keda: 4 replicas of a 4-GPU server on 3 nodes": (
        "strait-keda-max-within-pool", [POOL, deployment(), scaled_object(max_replicas=4)], {},
        [["ScaledObject serving/qwen32b-deploy: maxReplicaCount 4 needs 4 nodes (1 replica(s) per node)",
          "pool gpu-ng has at most 3", "Lower max_replicas to 3 or raise the pool's max_size to 4"]]),
    "keda: 1-GPU pods pack 4 to a node": ("strait-keda-max-within-pool",
                                          [POOL, deployment(**TP1), scaled_object(max_replicas=12)], {}, []),
    "keda: 13 packed pods need a fourth node": (
        "strait-keda-max-within-pool", [POOL, deployment(**TP1), scaled_object(max_replicas=13)], {},
        [["maxReplicaCount 13 needs 4 nodes (4 replica(s) per node)", "Lower max_replicas to 12"]]),
    "keda: the anti-affinity keeps one per node": (
        "strait-keda-max-within-pool", [POOL, one_per_node(deployment(**TP1)), scaled_object(max_replicas=4)], {},
        [["maxReplicaCount 4 needs 4 nodes (1 replica(s) per node)"]]),
    "keda: two servers that fit alone but not together": (
        "strait-keda-max-within-pool",
        [POOL, deployment(), scaled_object(max_replicas=2), deployment(name="r1-deploy", replicas=2)], {},
        [["GPU pool gpu-ng: its servers together need 4 nodes", "qwen32b-deploy: 2 max replicas",
          "r1-deploy: 2 fixed replicas"]]),
    "keda: a target the stack does not create": (
        "strait-keda-max-within-pool", [POOL, deployment(), scaled_object(target="ghost")], {},
        [["ScaledObject serving/ghost scales Deployment ghost, which this stack does not create"]]),
    "keda: a pod bigger than the node": (
        "strait-keda-max-within-pool", [POOL, deployment(gpus=8, args=vllm_args(tp=8)), scaled_object()], {},
        [["needs 8 GPUs but a node of pool gpu-ng has fewer"]]),
    # --- cron windows ---------------------------------------------------------------------------------------
    "cron: Jakarta business hours": ("strait-keda-cron-window-valid", [scaled_object(cron=[JKT])], {}, []),
    "cron: a zone that does not exist": (
        "strait-keda-cron-window-valid", [scaled_object(cron=[("Asia/Jakarta_", *JKT[1:])])], {},
        [["timezone 'Asia/Jakarta_' is not an IANA time zone", "the window never opens"]]),
    "cron: an abbreviation is not a zone": (
        "strait-keda-cron-window-valid", [scaled_object(cron=[("WIB", *JKT[1:])])], {}, [["timezone 'WIB'"]]),
    "cron: six fields": ("strait-keda-cron-window-valid", [scaled_object(cron=[("UTC", "0 0 9 * * 1-5", JKT[2], 2)])],
                         {}, [["start '0 0 9 * * 1-5' has 6 fields", "KEDA refuses the trigger"]]),
    "cron: start equals end": ("strait-keda-cron-window-valid", [scaled_object(cron=[("UTC", JKT[1], JKT[1], 2)])], {},
                               [["start and end are the same schedule"]]),
    "cron: floor above the maximum": ("strait-keda-cron-window-valid",
                                      [scaled_object(max_replicas=2, cron=[("UTC", *JKT[1:3], 3)])], {},
                                      [["desiredReplicas 3 must lie between 1 and maxReplicaCount 2"]]),
    # --- spend: an autoscaled pool is priced at what its servers can reach ------------------------------------
    "spend: autoscaled within the pool costs the pool's max": (
        "strait-gpu-spend-monthly-cap", [POOL, deployment(), scaled_object(max_replicas=3)],
        {"monthly_budget_usd": 12000}, []),
    "spend: autoscaled past the pool's max is priced at the replicas' nodes": (
        "strait-gpu-spend-monthly-cap", [POOL, deployment(), scaled_object(max_replicas=5)],
        {"monthly_budget_usd": 12000},
        [["$19,980/month", "5 x g4dn.12xlarge x $5.474/h x 730 h", "autoscaled servers' maxReplicaCount needs 5 nodes"]]),
}
