"""What phase 3 added to the platforms, under Pulumi's mocks: the GKE cluster's firewall rule that lets a private
cluster's control plane reach the LWS webhook on 9443 (and no rule without webhook ports), and an AWS reserved
pool's subnets (the reservation zone's only, or a clear error)."""
from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
import pytest

from components.aws.platform import AwsPoolSpec, pool_subnets
from components.gcp.gke_cluster import GkeCluster, GkeClusterArgs
from components.k8s.lws import WEBHOOK_PORT
from strait.plan.mocks import GCP_PROJECT
from strait.reservations import Reservation
from tests.helpers import of_type, one

ZONES = ["asia-southeast1-a", "asia-southeast1-b", "asia-southeast1-c"]


def _cluster(monitor, **kw):
    @pulumi.runtime.test
    def inner():
        provider = gcp.Provider("gcp", project=GCP_PROJECT, region="asia-southeast1")
        return GkeCluster("cluster", GkeClusterArgs(
            project=GCP_PROJECT, region="asia-southeast1", cluster_name="strait-test", kubernetes_version="1.35",
            network_id="projects/p/global/networks/n", subnet_id="projects/p/regions/r/subnetworks/s",
            pods_range_name="pods", services_range_name="services", node_zones=ZONES, labels={"stack": "test"},
            master_cidr="172.16.0.32/28", **kw), opts=pulumi.ResourceOptions(providers={"gcp": provider})).urn
    inner()


def test_webhook_ports_open_from_the_control_plane_to_this_clusters_nodes_only(monitor):
    _cluster(monitor, webhook_ports=(WEBHOOK_PORT, WEBHOOK_PORT))
    fw = one(monitor, "gcp:compute/firewall:Firewall")
    i = fw.inputs
    assert i["direction"] == "INGRESS"
    assert i["network"] == "projects/p/global/networks/n"
    assert i["sourceRanges"] == ["172.16.0.32/28"]  # the control plane's /28, nothing wider
    assert i["allows"] == [{"protocol": "tcp", "ports": ["9443"]}]  # once, TCP only
    assert "denies" not in i and "sourceTags" not in i and "targetTags" not in i
    sa = one(monitor, "gcp:serviceaccount/account:Account")
    assert i["targetServiceAccounts"] == [f"{sa.inputs['accountId']}@{GCP_PROJECT}.iam.gserviceaccount.com"]
    assert fw.provider and "::gcp::" in fw.provider and "default_" not in fw.provider


def test_no_webhook_ports_no_firewall_rule(monitor):
    _cluster(monitor)
    assert of_type(monitor, "gcp:compute/firewall:Firewall") == []


AZS = ("ap-southeast-3a", "ap-southeast-3b", "ap-southeast-3c")
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]


def test_a_pool_without_reservation_uses_every_private_subnet():
    assert pool_subnets("p", AwsPoolSpec(instance_types=("g5.xlarge",)), AZS, SUBNETS) == SUBNETS


def test_a_reserved_pool_uses_only_its_zones_subnet():
    spec = AwsPoolSpec(instance_types=("p5.4xlarge",), reservation=Reservation(
        kind="odcr", instance_count=2, zone="ap-southeast-3b"))
    assert pool_subnets("h100", spec, AZS, SUBNETS) == ["subnet-b"]


def test_a_reservation_outside_the_networks_zones_is_refused_with_the_fix():
    spec = AwsPoolSpec(instance_types=("p5.4xlarge",), reservation=Reservation(
        kind="odcr", instance_count=2, zone="ap-southeast-3c"))
    with pytest.raises(ValueError) as e:
        pool_subnets("h100", spec, AZS[:2], SUBNETS[:2])
    assert str(e.value) == ("gpu_pools.h100.reservation.zone: 'ap-southeast-3c' is not one of the network's zones "
                            "(ap-southeast-3a, ap-southeast-3b); fix: pick one of them, or raise "
                            "network.availability_zones")
