"""Every stack with GPU pools plans a Cluster Autoscaler whose priority ConfigMap names its pools' node groups."""
import re

import pytest
import yaml

from strait.catalog.charts import load_charts
from tests.conftest import STACKS, load_stack_raw

UUID = "40bbb26b-8679-eb64-d33a-4ba475413529"


@pytest.mark.parametrize("stack", STACKS)
def test_autoscaler_is_planned_with_a_priority_configmap_for_every_pool(planned, stack):
    raw = load_stack_raw(stack)
    if not (raw.get("autoscaler") or {}).get("enabled", True):
        pytest.skip("autoscaler disabled in this stack")
    if raw.get("cloud", "aws") != "aws":
        pytest.skip("GKE runs its own cluster autoscaler: no chart, no priority ConfigMap (docs/gke.md)")
    p = planned[stack]
    [cm] = [m for _, m in p.manifests() if m["kind"] == "ConfigMap"
            and m["metadata"]["name"] == "cluster-autoscaler-priority-expander"]
    assert cm["metadata"]["namespace"] == "kube-system"
    prio = yaml.safe_load(cm["data"]["priorities"])
    node_groups = [r for r in p.resources if r["type"] == "aws:eks/nodeGroup:NodeGroup"
                   and r["inputs"].get("labels", {}).get("strait.dev/gpu")]
    assert len(node_groups) == len(raw["gpu_pools"])
    for ng in node_groups:
        asg = f"eks-{ng['inputs']['nodeGroupName']}-{UUID}"
        best = max(pr for pr, rs in prio.items() if any(re.search(r, asg) for r in rs))
        assert best > min(prio), f"{asg} only matches the catch-all"
    [release] = [r for r in p.resources if r["type"] == "kubernetes:helm.sh/v3:Release"
                 and r["inputs"]["name"] == "cluster-autoscaler"]
    assert release["inputs"]["version"] == load_charts()["cluster-autoscaler"].version
