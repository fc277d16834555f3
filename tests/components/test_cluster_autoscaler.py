"""ClusterAutoscaler under mocks: least-privilege IAM, Pod Identity for the chart's service account, the chart
pinned from the catalog, its values, and a priority ConfigMap built from the pools' real node group names."""
import json
import re

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.aws.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.context import StackContext
from strait.catalog.charts import load_charts
from strait.render.autoscaler import ON_DEMAND_PRIORITY, SPOT_PRIORITY
from tests.helpers import by_name, of_type, one

CTX = StackContext(project="strait", stack="test", blueprint="phase1_mvp", cost_center="ml-platform")
PIN = load_charts()["cluster-autoscaler"]
UUID = "40bbb26b-8679-eb64-d33a-4ba475413529"


def _args(**kw) -> ClusterAutoscalerArgs:
    base = dict(cluster_name="strait-test", cluster_name_plain="strait-test", region="ap-southeast-1",
                kubernetes_version="1.35", chart=PIN, node_groups={"test-l40s": "spot"}, tags=CTX.tags("autoscaler"))
    return ClusterAutoscalerArgs(**{**base, **kw})


def _run(build):
    @pulumi.runtime.test
    def inner():
        aws_p = aws.Provider("aws", region="ap-southeast-1")
        k8s_p = k8s.Provider("k8s", kubeconfig="{}")
        return build(pulumi.ResourceOptions(providers={"aws": aws_p, "kubernetes": k8s_p}))
    inner()


def _stack(opts):
    """Two pools (spot and on-demand) and the autoscaler fed from them, as the blueprint does."""
    pools = [GpuNodePool(f"gpu-{p}", p, GpuNodePoolArgs(
        cluster_name="strait-test", node_role_arn="arn:role", subnet_ids=["s1"], instance_types=["g6e.xlarge"],
        gpu_model="L40S", capacity=cap, min_size=0, max_size=4, desired_size=0, tags=CTX.tags("gpu-node-pool")),
        opts=opts) for p, cap in (("l40s-spot", "spot"), ("l40s", "on_demand"))]
    ca = ClusterAutoscaler("cluster-autoscaler", _args(
        node_groups={p.physical_node_group_name: p.capacity for p in pools}), opts=opts)
    return ca.urn


def test_iam_is_least_privilege_and_bound_to_the_charts_service_account(monitor):
    _run(_stack)
    comp = by_name(monitor, "cluster-autoscaler")
    children = [r for r in monitor.registrations if r.parent == comp.urn]
    assert {r.type for r in children} == {
        "aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy", "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "kubernetes:core/v1:ConfigMap", "kubernetes:helm.sh/v3:Release"}
    for r in children:
        assert r.name.startswith("cluster-autoscaler-")
        want = "::aws::" if r.type.startswith("aws:") else "::k8s::"
        assert want in r.provider and "default_" not in r.provider, (r.name, r.provider)

    role = one(monitor, "aws:iam/role:Role")
    trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    policy = json.loads(one(monitor, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert all(s["Effect"] == "Allow" for s in policy["Statement"])
    actions = [a for s in policy["Statement"] for a in s["Action"]]
    assert not any("*" in a for a in actions), actions
    # Unscoped statements may only read.
    for s in policy["Statement"]:
        if s["Resource"] == "*" and "Condition" not in s:
            assert all(re.match(r"^(autoscaling|ec2):(Describe|Get)", a) for a in s["Action"]), s
    write = by_sid["ScaleOwnedGroups"]
    assert sorted(write["Action"]) == ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"]
    assert write["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/strait-test": "owned"}}
    assert by_sid["DescribeNodegroups"]["Resource"] == "arn:aws:eks:ap-southeast-1:*:nodegroup/strait-test/*/*"
    assert {"autoscaling:DescribeTags", "ec2:DescribeLaunchTemplateVersions"} <= set(by_sid["Describe"]["Action"])

    assoc = one(monitor, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    release = one(monitor, "kubernetes:helm.sh/v3:Release")
    values = release.inputs["values"]
    assert (assoc.inputs["namespace"], assoc.inputs["serviceAccount"]) == (
        release.inputs["namespace"], values["rbac"]["serviceAccount"]["name"]) == ("kube-system", "cluster-autoscaler")
    assert assoc.inputs["clusterName"] == "strait-test"


def test_chart_is_pinned_from_the_catalog_with_our_values(monitor):
    _run(_stack)
    release = one(monitor, "kubernetes:helm.sh/v3:Release")
    assert (release.inputs["chart"], release.inputs["version"], release.inputs["repositoryOpts"]["repo"]) == (
        "cluster-autoscaler", PIN.version, "https://kubernetes.github.io/autoscaler")
    assert PIN.repository == "https://kubernetes.github.io/autoscaler"
    values = release.inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": "strait-test"}
    assert values["awsRegion"] == "ap-southeast-1"
    assert "expanderPriorities" not in values  # the ConfigMap is ours, not the chart's
    assert values["extraArgs"] == {
        "expander": "priority,least-waste", "balance-similar-node-groups": "true",
        "skip-nodes-with-local-storage": "false", "scale-down-unneeded-time": "10m", "scale-down-delay-after-add": "10m"}
    assert release.inputs["atomic"] is True


def test_priority_configmap_prefers_the_spot_pool_by_its_real_asg_name(monitor):
    _run(_stack)
    cm = one(monitor, "kubernetes:core/v1:ConfigMap")
    assert cm.inputs["metadata"]["name"] == "cluster-autoscaler-priority-expander"
    assert cm.inputs["metadata"]["namespace"] == "kube-system"
    prio = yaml.safe_load(cm.inputs["data"]["priorities"])
    # The names the regexes use are the names GpuNodePool gives EKS.
    names = {r.inputs["capacityType"]: r.inputs["nodeGroupName"] for r in of_type(monitor, "aws:eks/nodeGroup:NodeGroup")}
    assert names == {"SPOT": "test-l40s-spot", "ON_DEMAND": "test-l40s"}

    def winner(asg):
        return max(p for p, rs in prio.items() if any(re.search(r, asg) for r in rs))
    assert winner(f"eks-{names['SPOT']}-{UUID}") == SPOT_PRIORITY
    assert winner(f"eks-{names['ON_DEMAND']}-{UUID}") == ON_DEMAND_PRIORITY


def test_node_groups_carry_the_cluster_owned_tag(monitor):
    _run(_stack)
    for ng in of_type(monitor, "aws:eks/nodeGroup:NodeGroup"):
        assert ng.inputs["tags"]["k8s.io/cluster-autoscaler/strait-test"] == "owned"
        assert ng.inputs["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"


@pytest.mark.parametrize("change, message", [
    (dict(kubernetes_version="1.34"), "installs Cluster Autoscaler 1.35.0, but the cluster runs Kubernetes 1.34"),
    (dict(node_groups={"test-l40s": "reserved"}), "capacity must be 'spot' or 'on_demand'"),
    (dict(scale_down_unneeded_minutes=0), "1..1440"),
])
def test_bad_args_fail_before_any_child(monitor, change, message):
    with pytest.raises(ValueError, match=message):
        _run(lambda o: ClusterAutoscaler("cluster-autoscaler", _args(**change), opts=o).urn)
    assert not of_type(monitor, "aws:iam/role:Role")
    assert not of_type(monitor, "kubernetes:helm.sh/v3:Release")


def test_chart_app_version_tracks_the_default_kubernetes_minor():
    from strait.config.sections import ClusterConfig
    default_minor = ClusterConfig().kubernetes_version
    assert PIN.app_version.startswith(f"{default_minor}."), (PIN.app_version, default_minor)
