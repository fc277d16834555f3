"""Cluster Autoscaler for the GPU pools: IAM role for Pod Identity, the pinned upstream Helm chart, and the
priority-expander ConfigMap that prefers spot pools and falls back to on-demand ones.

The ConfigMap is a first-class Kubernetes object (not the chart's ``expanderPriorities``), so it shows in
the offline plan's manifests and is validated there. Its content comes from ``strait.render.autoscaler``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.aws.iam import pod_identity_role
from components.k8s.helm import container_security, helm_release, pod_security, release_record
from strait.catalog.charts import ChartPin
from strait.naming import child, iam_role_name
from strait.render.autoscaler import PRIORITY_CONFIGMAP, extra_args, render_priorities
from strait.tags import k8s_labels

RELEASE = "cluster-autoscaler"

#: Reads the autoscaler needs on every ASG/instance type (these APIs do not support resource scoping),
#: from the recommended policy in kubernetes/autoscaler cluster-autoscaler/cloudprovider/aws/README.md,
#: plus DescribeTags (auto-discovery) and DescribeLaunchTemplateVersions (our groups use launch templates).
READ_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeLaunchConfigurations",
    "autoscaling:DescribeScalingActivities",
    "autoscaling:DescribeTags",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:GetInstanceTypesFromInstanceRequirements",
)
#: The only writes, and only on ASGs tagged as owned by this cluster.
WRITE_ACTIONS = ("autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup")


def autoscaler_policy(cluster_name: str, region: str) -> str:
    """Least-privilege IAM policy (JSON, sorted keys) for one cluster's autoscaler."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Describe", "Effect": "Allow", "Action": list(READ_ACTIONS), "Resource": "*"},
            # Labels and taints of an empty managed node group (scale from zero), this cluster's groups only.
            {"Sid": "DescribeNodegroups", "Effect": "Allow", "Action": ["eks:DescribeNodegroup"],
             "Resource": f"arn:aws:eks:{region}:*:nodegroup/{cluster_name}/*/*"},
            {"Sid": "ScaleOwnedGroups", "Effect": "Allow", "Action": list(WRITE_ACTIONS), "Resource": "*",
             "Condition": {"StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}}},
        ],
    }, sort_keys=True)


@dataclass(frozen=True, kw_only=True)
class ClusterAutoscalerArgs:
    cluster_name: pulumi.Input[str]
    """The EKS cluster (an Output, so the role and association wait for it)."""
    cluster_name_plain: str
    """The same name as a plain string: tag keys and the policy's ARN need it before deployment."""
    region: str
    kubernetes_version: str
    """EKS minor, e.g. '1.35'. The chart's Cluster Autoscaler must be the same minor."""
    chart: ChartPin
    node_groups: dict[str, str]
    """Physical node group name -> 'spot' | 'on_demand' (GpuNodePool.physical_node_group_name, .capacity)."""
    tags: dict[str, str]
    scale_down_unneeded_minutes: int = 10
    """How long a node must be unneeded before it is removed. Default: 10 minutes."""
    namespace: str = "kube-system"
    """The priority ConfigMap must live in the autoscaler's namespace. Default: kube-system."""
    service_account: str = "cluster-autoscaler"
    """Created by the chart; the Pod Identity association binds the role to it."""


def chart_values(args: ClusterAutoscalerArgs) -> dict:
    return {
        "cloudProvider": "aws",
        "awsRegion": args.region,
        "autoDiscovery": {"clusterName": args.cluster_name},
        "rbac": {"serviceAccount": {"create": True, "name": args.service_account}},
        # Not `expanderPriorities`: Strait creates that ConfigMap itself (first-class, validated).
        "extraArgs": extra_args(args.scale_down_unneeded_minutes),
        "resources": {"requests": {"cpu": "100m", "memory": "600Mi"}, "limits": {"memory": "600Mi"}},
        # Non-root (65534, as upstream's own example), no capabilities, read-only root: a static Go binary that
        # only talks to the API server and AWS. tests/helm judges the Deployment Helm renders from these values.
        "securityContext": pod_security(65534),
        "containerSecurityContext": container_security(),
    }


def _minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


class ClusterAutoscaler(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]
    priorities: str
    release: dict

    def __init__(self, name: str, args: ClusterAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:ClusterAutoscaler", name, None, opts)
        if _minor(args.chart.app_version) != _minor(args.kubernetes_version):
            raise ValueError(f"chart {args.chart.chart} {args.chart.version} installs Cluster Autoscaler "
                             f"{args.chart.app_version}, but the cluster runs Kubernetes {args.kubernetes_version}: "
                             "pin a chart whose app version has the same minor (strait/catalog/data/charts.yaml)")
        self.priorities = render_priorities(args.node_groups)  # raises on a bad name or capacity
        chart_values(args)  # raises on a bad scale-down delay, before any child exists
        o = pulumi.ResourceOptions(parent=self)

        role = pod_identity_role(
            child(name, "role"), role_name=iam_role_name(args.cluster_name_plain, "cluster-autoscaler"),
            policy=autoscaler_policy(args.cluster_name_plain, args.region), cluster_name=args.cluster_name,
            namespace=args.namespace, service_accounts=[args.service_account], tags=args.tags, opts=o,
            policy_resource_name=child(name, "policy"), association_names={args.service_account: child(name, "identity")})
        assoc = role.associations[args.service_account]
        cm = k8s.core.v1.ConfigMap(child(name, "priorities"), metadata={
            "name": PRIORITY_CONFIGMAP, "namespace": args.namespace,
            "labels": k8s_labels(name=RELEASE, instance=name, component="autoscaler")},
            data={"priorities": self.priorities}, opts=o)
        # The autoscaler must start with credentials and its priority ConfigMap in place.
        helm_release(child(name, "release"), RELEASE, args.namespace, args.chart, chart_values(args),
                     pulumi.ResourceOptions(parent=self, depends_on=[assoc, cm]), timeout_seconds=600)
        self.release = release_record(args.chart)
        self.role_arn = role.arn
        self.register_outputs({"role_arn": self.role_arn, "release": self.release})
