"""Cluster Autoscaler settings Strait decides: the priority-expander ConfigMap data and the flags.

Pure: no pulumi import. ``components/aws/cluster_autoscaler.py`` wraps what these return.

Priority expander (kubernetes/autoscaler cluster-autoscaler/expander/priority/readme.md): the ConfigMap
``cluster-autoscaler-priority-expander`` in the autoscaler's namespace holds ``data.priorities``, a YAML
mapping of integer priority -> list of regular expressions (Go RE2) matched against node group names,
which on AWS are Auto Scaling group names. The HIGHEST number wins. When the winning group cannot get
capacity (scale-up times out or AWS reports InsufficientInstanceCapacity), the autoscaler backs that
group off and the next expansion picks the best remaining one: spot first, on-demand after.

EKS managed node groups get an ASG named ``eks-<nodegroup-name>-<nodegroup-uuid>`` (the name is set by
EKS, not by us; aws/containers-roadmap#1304), so each regex is anchored on that shape. Anchoring on the
UUID keeps pool ``a`` from matching pool ``a-b``'s group.
"""
from __future__ import annotations

import re
from collections.abc import Mapping

import yaml

PRIORITY_CONFIGMAP = "cluster-autoscaler-priority-expander"
SPOT_PRIORITY = 30
ON_DEMAND_PRIORITY = 20
#: Every other discovered group (the system node group). Lowest, so GPU pools never lose to it, but
#: present so CPU-only pods still scale it instead of hitting "no priority" for their only option.
OTHER_PRIORITY = 10
OTHER_REGEX = ".*"
#: priority picks the preferred capacity; least-waste breaks ties among groups of equal priority
#: (chained expanders are supported since Cluster Autoscaler 1.23).
EXPANDER = "priority,least-waste"

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_NODE_GROUP = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_PRIORITY_OF = {"spot": SPOT_PRIORITY, "on_demand": ON_DEMAND_PRIORITY}


def managed_asg_regex(node_group_name: str) -> str:
    """RE2 regex matching exactly the ASG EKS creates for this managed node group."""
    if not _NODE_GROUP.match(node_group_name):
        raise ValueError(f"node group name {node_group_name!r} is not a DNS-1123 label of at most 63 characters")
    return f"^eks-{node_group_name}-{_UUID}$"


def priorities(node_groups: Mapping[str, str]) -> dict[int, list[str]]:
    """node group name -> capacity ('spot' | 'on_demand')  =>  priority -> sorted regexes."""
    if not node_groups:
        raise ValueError("no node groups: the priority expander needs at least one")
    out: dict[int, list[str]] = {OTHER_PRIORITY: [OTHER_REGEX]}
    for name, capacity in sorted(node_groups.items()):
        if capacity not in _PRIORITY_OF:
            raise ValueError(f"node group {name!r}: capacity must be 'spot' or 'on_demand', got {capacity!r}")
        out.setdefault(_PRIORITY_OF[capacity], []).append(managed_asg_regex(name))
    return {p: sorted(v) for p, v in sorted(out.items())}


def render_priorities(node_groups: Mapping[str, str]) -> str:
    """The ConfigMap's ``data.priorities`` text: stable (sorted) so a diff shows only real change."""
    return yaml.safe_dump(priorities(node_groups), sort_keys=True, default_flow_style=False)


def extra_args(scale_down_unneeded_minutes: int) -> dict[str, str]:
    """Flags passed through the chart's ``extraArgs`` (rendered as ``--key=value``)."""
    if not 1 <= scale_down_unneeded_minutes <= 1440:
        raise ValueError(f"scale_down_unneeded_minutes must be 1..1440, got {scale_down_unneeded_minutes}")
    return {
        "expander": EXPANDER,
        # Pools of the same shape (e.g. one per AZ) grow together instead of one filling first.
        "balance-similar-node-groups": "true",
        # vLLM pods use emptyDir (/dev/shm, scratch); without this no GPU node could ever be removed.
        "skip-nodes-with-local-storage": "false",
        # A GPU node costs dollars per hour but takes minutes to boot and load weights: wait this long
        # after a node becomes unneeded before removing it, so a short lull does not cause a cold start.
        "scale-down-unneeded-time": f"{scale_down_unneeded_minutes}m",
        "scale-down-delay-after-add": f"{scale_down_unneeded_minutes}m",
    }
