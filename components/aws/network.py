"""A VPC with public and private subnets across availability zones, and NAT."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from strait.naming import child
from strait.netplan import plan_subnets


@dataclass(frozen=True, kw_only=True)
class NetworkArgs:
    cidr: str
    """VPC CIDR, e.g. 10.40.0.0/16."""
    availability_zones: list[str]
    """Zone names, one public and one private subnet each."""
    cluster_name: str
    """EKS cluster that will use the subnets (for the kubernetes.io/cluster tag)."""
    tags: dict[str, str]
    nat_gateways: str = "single"
    """'single': one NAT gateway for all zones (cheaper). 'per_az': one per zone (zone-failure tolerant)."""
    s3_endpoint_region: str | None = None
    """Add an S3 gateway endpoint (free) to the private route tables: S3 traffic skips the NAT gateway, and
    ``s3_cidrs`` gives the region's S3 prefix list, which NetworkPolicies can name. Default: none."""


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:Network", name, None, opts)
        if args.nat_gateways not in ("single", "per_az"):
            raise ValueError(f"nat_gateways must be 'single' or 'per_az', got {args.nat_gateways!r}")
        public_cidrs, private_cidrs = plan_subnets(args.cidr, len(args.availability_zones))
        o = pulumi.ResourceOptions(parent=self)
        t = lambda n: {**args.tags, "Name": n}  # noqa: E731

        vpc = aws.ec2.Vpc(child(name, "vpc"), cidr_block=args.cidr, enable_dns_hostnames=True,
                          enable_dns_support=True, tags=t(child(name, "vpc")), opts=o)
        igw = aws.ec2.InternetGateway(child(name, "igw"), vpc_id=vpc.id, tags=t(child(name, "igw")), opts=o)
        public_rt = aws.ec2.RouteTable(child(name, "public"), vpc_id=vpc.id,
                                       routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": igw.id}],
                                       tags=t(child(name, "public")), opts=o)
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}
        self.public_subnet_ids, self.private_subnet_ids = [], []
        private_rts = []
        nats: list[aws.ec2.NatGateway] = []
        for i, (az, pub, priv) in enumerate(zip(args.availability_zones, public_cidrs, private_cidrs)):
            sn = aws.ec2.Subnet(child(name, f"public-{az}"), vpc_id=vpc.id, cidr_block=pub, availability_zone=az,
                                map_public_ip_on_launch=False,
                                tags={**t(child(name, f"public-{az}")), **cluster_tag, "kubernetes.io/role/elb": "1"}, opts=o)
            aws.ec2.RouteTableAssociation(child(name, f"public-{az}"), subnet_id=sn.id, route_table_id=public_rt.id, opts=o)
            self.public_subnet_ids.append(sn.id)
            if args.nat_gateways == "per_az" or i == 0:
                eip = aws.ec2.Eip(child(name, f"nat-{az}"), domain="vpc", tags=t(child(name, f"nat-{az}")), opts=o)
                nats.append(aws.ec2.NatGateway(child(name, f"nat-{az}"), allocation_id=eip.id, subnet_id=sn.id,
                                               tags=t(child(name, f"nat-{az}")),
                                               opts=pulumi.ResourceOptions(parent=self, depends_on=[igw])))
            nat = nats[-1] if args.nat_gateways == "per_az" else nats[0]
            rt = aws.ec2.RouteTable(child(name, f"private-{az}"), vpc_id=vpc.id,
                                    routes=[{"cidr_block": "0.0.0.0/0", "nat_gateway_id": nat.id}],
                                    tags=t(child(name, f"private-{az}")), opts=o)
            psn = aws.ec2.Subnet(child(name, f"private-{az}"), vpc_id=vpc.id, cidr_block=priv, availability_zone=az,
                                 tags={**t(child(name, f"private-{az}")), **cluster_tag, "kubernetes.io/role/internal-elb": "1"},
                                 opts=o)
            aws.ec2.RouteTableAssociation(child(name, f"private-{az}"), subnet_id=psn.id, route_table_id=rt.id, opts=o)
            private_rts.append(rt)
            self.private_subnet_ids.append(psn.id)
        self.s3_cidrs: pulumi.Output[list[str]] | None = None
        if args.s3_endpoint_region:
            s3 = aws.ec2.VpcEndpoint(child(name, "s3"), vpc_id=vpc.id, vpc_endpoint_type="Gateway",
                                     service_name=f"com.amazonaws.{args.s3_endpoint_region}.s3",
                                     route_table_ids=[rt.id for rt in private_rts], tags=t(child(name, "s3")), opts=o)
            #: The CIDRs of the region's S3 prefix list (com.amazonaws.<region>.s3), as AWS reports them.
            self.s3_cidrs = s3.cidr_blocks
        self.vpc_id = vpc.id
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids,
                               "public_subnet_ids": self.public_subnet_ids})
