"""A VPC-native network for GKE: one regional subnet with secondary ranges for pods and services,
Cloud Router and Cloud NAT so private nodes (no external IPs) reach the internet."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from strait.naming import child, dns_label

PODS_RANGE = "pods"
SERVICES_RANGE = "services"


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    project: str
    region: str
    network_name: str
    """Physical VPC name (1-63 characters, lower-case, RFC 1035)."""
    nodes_cidr: str = "10.40.0.0/20"
    """Primary range of the subnet: node IPs (4,092 nodes). Default: 10.40.0.0/20."""
    pods_cidr: str = "10.48.0.0/14"
    """Secondary range for pod IPs (VPC-native alias IPs). Default: a /14, GKE's own default size."""
    services_cidr: str = "10.52.0.0/20"
    """Secondary range for ClusterIP Services. Default: a /20 (4,096 Services)."""
    flow_log_sampling: float = 0.5
    """Share of VPC flow logs kept on the subnet (0 turns flow logs off). Default: 0.5."""


def check_ranges(args: NetworkArgs) -> list[str]:
    """Every problem with the three ranges, at once (pure; the component raises them together)."""
    errors, nets = [], {}
    for field in ("nodes_cidr", "pods_cidr", "services_cidr"):
        value = getattr(args, field)
        try:
            net = ipaddress.ip_network(value)
        except ValueError:
            errors.append(f"{field}: {value!r} is not a CIDR block; fix: write it like 10.40.0.0/20")
            continue
        if net.version != 4 or not net.is_private:
            errors.append(f"{field}: {value!r} must be a private IPv4 range (RFC 1918); fix: use 10.0.0.0/8 space")
        nets[field] = net
    names = sorted(nets)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if nets[a].overlaps(nets[b]):
                errors.append(f"{a} {nets[a]} overlaps {b} {nets[b]}; fix: give each range its own block")
    if not 0 <= args.flow_log_sampling <= 1:
        errors.append(f"flow_log_sampling: {args.flow_log_sampling!r} must be within 0..1")
    return errors


class Network(pulumi.ComponentResource):
    network_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    pods_range_name: str = PODS_RANGE
    services_range_name: str = SERVICES_RANGE

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:gcp:Network", name, None, opts)
        errors = check_ranges(args)
        if errors:
            raise ValueError("invalid network arguments:\n  " + "\n  ".join(errors))
        o = pulumi.ResourceOptions(parent=self)
        vpc_name = dns_label(args.network_name, 63)
        vpc = gcp.compute.Network(child(name, "vpc"), name=vpc_name, project=args.project,
                                  auto_create_subnetworks=False, routing_mode="REGIONAL",
                                  delete_default_routes_on_create=False, opts=o)
        subnet = gcp.compute.Subnetwork(
            child(name, "nodes"), name=dns_label(f"{vpc_name}-{args.region}", 63), project=args.project,
            region=args.region, network=vpc.id, ip_cidr_range=args.nodes_cidr,
            # Nodes have no external IPs; Google APIs (GCS, Artifact Registry) stay on Google's network.
            private_ip_google_access=True,
            secondary_ip_ranges=[
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=PODS_RANGE, ip_cidr_range=args.pods_cidr),
                gcp.compute.SubnetworkSecondaryIpRangeArgs(range_name=SERVICES_RANGE, ip_cidr_range=args.services_cidr),
            ],
            log_config=gcp.compute.SubnetworkLogConfigArgs(
                aggregation_interval="INTERVAL_5_SEC", flow_sampling=args.flow_log_sampling,
                metadata="INCLUDE_ALL_METADATA") if args.flow_log_sampling > 0 else None,
            opts=o)
        router = gcp.compute.Router(child(name, "router"), name=dns_label(f"{vpc_name}-router", 63),
                                    project=args.project, region=args.region, network=vpc.id, opts=o)
        gcp.compute.RouterNat(
            child(name, "nat"), name=dns_label(f"{vpc_name}-nat", 63), project=args.project, region=args.region,
            router=router.name, nat_ip_allocate_option="AUTO_ONLY",
            # Only this subnet (nodes and pods) is translated; nothing else in the project rides on this NAT.
            source_subnetwork_ip_ranges_to_nat="LIST_OF_SUBNETWORKS",
            subnetworks=[gcp.compute.RouterNatSubnetworkArgs(name=subnet.id, source_ip_ranges_to_nats=["ALL_IP_RANGES"])],
            log_config=gcp.compute.RouterNatLogConfigArgs(enable=True, filter="ERRORS_ONLY"),
            opts=o)
        self.network_id = vpc.id
        self.subnet_id = subnet.id
        self.register_outputs({"network_id": self.network_id, "subnet_id": self.subnet_id})
