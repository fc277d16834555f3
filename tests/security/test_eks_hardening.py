"""EKS hardening from issue 8: NetworkPolicies are enforced (the vpc-cni add-on's network-policy agent is on),
and the system node group (gateway, Langfuse, Prometheus) requires IMDSv2 with hop limit 1, like the GPU pools."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pytest

from components.aws.eks_cluster import EksCluster, EksClusterArgs, service_cidr_for
from tests.helpers import by_name, of_type


def _cluster(monitor, **kw):
    @pulumi.runtime.test
    def build():
        provider = aws.Provider("aws", region="ap-southeast-1")
        return EksCluster("cluster", EksClusterArgs(cluster_name="strait-test", kubernetes_version="1.35", vpc_id="vpc-1",
                                                    private_subnet_ids=["s1", "s2"], tags={"stack": "t"}, **kw),
                          region="ap-southeast-1", opts=pulumi.ResourceOptions(providers={"aws": provider})).urn
    build()
    return monitor


def test_vpc_cni_enforces_network_policies(monitor):
    addons = {a.inputs["addonName"]: a for a in of_type(_cluster(monitor), "aws:eks/addon:Addon")}
    config = json.loads(addons["vpc-cni"].inputs["configurationValues"])
    assert config == {"enableNetworkPolicy": "true"}  # a string, as the add-on's configuration schema types it


def test_system_node_group_requires_imdsv2_with_hop_limit_1(monitor):
    _cluster(monitor)
    system = by_name(monitor, "cluster-system")
    lt_ref = system.inputs["launchTemplate"]
    lt = [t for t in of_type(monitor, "aws:ec2/launchTemplate:LaunchTemplate") if t.name == "cluster-system-lt"]
    assert len(lt) == 1 and lt_ref["version"] == "1"
    assert lt[0].inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                               "httpPutResponseHopLimit": 1}
    assert "diskSize" not in system.inputs  # EKS rejects disk_size beside a launch template
    assert lt[0].inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


@pytest.mark.parametrize("vpc,service", [("10.40.0.0/16", "172.20.0.0/16"), ("172.31.0.0/16", "10.100.0.0/16"),
                                         ("192.168.0.0/16", "10.100.0.0/16")])
def test_service_cidr_is_the_one_eks_would_pick(vpc, service):
    assert service_cidr_for(vpc) == service


def test_the_service_cidr_is_stated_so_policies_can_name_the_api_server(monitor):
    _cluster(monitor, vpc_cidr="10.40.0.0/16")
    cluster = by_name(monitor, "cluster-eks")
    assert cluster.inputs["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "172.20.0.0/16"


def test_the_vpc_routes_s3_through_a_free_gateway_endpoint(monitor):
    from components.aws.network import Network, NetworkArgs

    @pulumi.runtime.test
    def build():
        provider = aws.Provider("aws", region="ap-southeast-1")
        net = Network("net", NetworkArgs(cidr="10.40.0.0/16", availability_zones=["a", "b"], cluster_name="c1",
                                         s3_endpoint_region="ap-southeast-1", tags={"stack": "t"}),
                      opts=pulumi.ResourceOptions(providers={"aws": provider}))
        return net.s3_cidrs.apply(lambda cidrs: cidrs)
    build()
    endpoint = by_name(monitor, "net-s3")
    assert endpoint.inputs["vpcEndpointType"] == "Gateway"
    assert endpoint.inputs["serviceName"] == "com.amazonaws.ap-southeast-1.s3"
    private = {r.name for r in of_type(monitor, "aws:ec2/routeTable:RouteTable") if "private" in r.name}
    assert len(endpoint.inputs["routeTableIds"]) == len(private) == 2
