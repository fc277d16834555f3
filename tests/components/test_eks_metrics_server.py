"""The gateway's HorizontalPodAutoscaler scales on CPU, a resource metric served by metrics-server: every EKS cluster
installs the metrics-server add-on, recorded under Pulumi mocks. (GKE runs metrics-server itself; see docs/gateway.md.)"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.aws.eks_cluster import EksCluster, EksClusterArgs
from tests.helpers import of_type


def test_every_eks_cluster_installs_the_metrics_server_add_on(monitor):
    @pulumi.runtime.test
    def run():
        provider = aws.Provider("aws", region="ap-southeast-3")
        return EksCluster("cluster", EksClusterArgs(cluster_name="strait-test", kubernetes_version="1.35", vpc_id="vpc-1",
                                                     private_subnet_ids=["s1", "s2"], tags={"project": "strait"}),
                          region="ap-southeast-3", opts=pulumi.ResourceOptions(providers={"aws": provider})).urn
    run()
    addons = {a.inputs["addonName"]: a for a in of_type(monitor, "aws:eks/addon:Addon")}
    assert "metrics-server" in addons
    node_groups = [r.urn for r in of_type(monitor, "aws:eks/nodeGroup:NodeGroup")]
    # Installed once the system nodes exist (its pods need a node without the GPU taint).
    assert set(node_groups) & set(addons["metrics-server"].dependencies or ())

