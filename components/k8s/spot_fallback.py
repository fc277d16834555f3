"""Spot first, on-demand when spot is gone, for one model server whose GPU is offered by two pools.

``spot_first_scheduling`` rewrites a model server's pod scheduling (pure): instead of the one pool in its
nodeSelector, the pod *requires* one of the given pools (all with the same GPU, still in the nodeSelector by
GPU model) and *prefers* spot nodes (preferred node affinity on the capacity label, weight 100). The node
autoscaler grows the spot pool first (EKS: the Cluster Autoscaler's priority expander ranks spot pools above
on-demand ones; GKE: the pools' ComputeClass lists spot before on-demand, selected by its node label, which
both pools carry and the pod then selects). A spot reclaim drains the pod gracefully (preStop, the engine's
--shutdown-timeout inside terminationGracePeriodSeconds, the server's PodDisruptionBudget), and its
replacement lands wherever a node of either pool is free.

``spot_first`` is the Pulumi transformation a blueprint puts on the model server (next to
``components.k8s.keda.replicas_owned_by_autoscaler``). No cloud here: the pools' labels come from the
platform (``GpuPool.node_labels``).
"""
from __future__ import annotations

import copy
from typing import Callable, Sequence

import pulumi

from components.platform import GpuPool
from strait.gpu_labels import CAPACITY_LABEL, GPU_LABEL, POOL_LABEL

#: The weight of the spot preference: the scheduler's largest, so spot wins over every soft spread rule.
SPOT_WEIGHT = 100


def shared_labels(pools: Sequence[GpuPool]) -> dict[str, str]:
    """Node labels every pool carries with the same value, less the pool's own name and capacity (the GPU model,
    and on GKE the ComputeClass the pools share)."""
    common = dict(pools[0].node_labels)
    for p in pools[1:]:
        common = {k: v for k, v in common.items() if p.node_labels.get(k) == v}
    return {k: v for k, v in sorted(common.items()) if k not in (POOL_LABEL, CAPACITY_LABEL)}


def check_pools(pools: Sequence[GpuPool]) -> None:
    if len(pools) < 2:
        raise ValueError("spot-first scheduling needs a spot pool and an on-demand pool")
    if len({(p.gpu_model, p.gpus_per_node) for p in pools}) != 1:
        raise ValueError("spot-first pools must have the same GPUs per node: "
                         + ", ".join(f"{p.name} {p.gpus_per_node}x {p.gpu_model}" for p in pools))
    if {p.capacity for p in pools} != {"spot", "on_demand"}:
        raise ValueError("spot-first pools must include a spot and an on-demand pool: "
                         + ", ".join(f"{p.name} {p.capacity}" for p in pools))


def spot_first_scheduling(pod: dict, pools: Sequence[GpuPool]) -> dict:
    """A copy of ``pod`` (a pod spec) that may run on any of ``pools`` and prefers their spot nodes."""
    check_pools(pools)
    out = copy.deepcopy(pod)
    selector = {k: v for k, v in (out.get("nodeSelector") or {}).items() if k != POOL_LABEL}
    selector.update(shared_labels(pools))
    if selector.get(GPU_LABEL) != pools[0].gpu_model:
        raise ValueError(f"the pod selects GPU {selector.get(GPU_LABEL)!r}, the pools have {pools[0].gpu_model!r}")
    out["nodeSelector"] = selector
    affinity = out.setdefault("affinity", {})
    affinity["nodeAffinity"] = {
        "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": POOL_LABEL, "operator": "In", "values": sorted(p.name for p in pools)}]}]},
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": SPOT_WEIGHT, "preference": {
            "matchExpressions": [{"key": CAPACITY_LABEL, "operator": "In", "values": ["spot"]}]}}],
    }
    return out


def spot_first(pools: Sequence[GpuPool]) -> Callable[[pulumi.ResourceTransformationArgs],
                                                      pulumi.ResourceTransformationResult | None]:
    """A Pulumi transformation for the model server component: its Deployment schedules spot-first over
    ``pools``. A (client-side) ``transformations`` entry, not an engine-side ``transforms`` one, so the offline
    plan records the rewritten pod spec exactly as ``pulumi up`` sends it."""
    check_pools(pools)

    def transformation(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        if args.type_ != "kubernetes:apps/v1:Deployment":
            return None
        props = dict(args.props)
        spec = dict(props["spec"])
        template = dict(spec["template"])
        template["spec"] = spot_first_scheduling(template["spec"], pools)
        spec["template"] = template
        props["spec"] = spec
        return pulumi.ResourceTransformationResult(props=props, opts=args.opts)

    return transformation
