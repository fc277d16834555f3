"""A GPU node pool: an EKS managed node group on an NVIDIA AMI, tainted so only GPU pods land there."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_aws as aws

from strait import gpu_labels
from strait.gpu_labels import CAPACITY_LABEL, GPU_TAINT_KEY, POOL_LABEL
from strait.naming import child, dns_label
from strait.reservations import Reservation, reservation_problems, reservation_tags

AMI_TYPES = {"al2023_nvidia": "AL2023_x86_64_NVIDIA", "bottlerocket_nvidia": "BOTTLEROCKET_x86_64_NVIDIA"}
#: AL2023 NVIDIA AMIs carry the driver and container toolkit but not the device plugin; Bottlerocket carries all three.
NEEDS_DEVICE_PLUGIN = {"al2023_nvidia": True, "bottlerocket_nvidia": False}


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolArgs:
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    instance_types: list[str]
    """All with the same GPU model and count; more than one gives spot more capacity pools."""
    gpu_model: str
    """Catalog GPU key (L40S, A10G, T4 ...), published as a node label."""
    tags: dict[str, str]
    capacity: str = "on_demand"
    """'spot' or 'on_demand'."""
    min_size: int = 1
    max_size: int = 2
    desired_size: int = 1
    disk_size_gib: int = 200
    ami: str = "al2023_nvidia"
    cluster_tag_name: str | None = None
    """Plain cluster name for the `k8s.io/cluster-autoscaler/<name>: owned` tag. Default: `cluster_name` when
    that is a plain string; otherwise the tag is left out (EKS still puts it on the ASG itself)."""
    reservation: Reservation | None = None
    """Reserved capacity (strait.reservations): an On-Demand Capacity Reservation Strait creates in
    ``reservation.zone`` (or an existing ``cr-`` id), or a Capacity Block for ML bought ahead. The launch template
    targets it; pass only that zone's subnets in ``subnet_ids`` (a reservation is zonal; the ASG would otherwise
    launch unreserved instances in other zones). Default: none, plain on-demand or spot capacity."""


def gpu_node_group_name(stack: str, pool: str) -> str:
    """Physical EKS node group name of a pool. The autoscaler's priority regexes are built from this too."""
    return dns_label(child(stack, pool), 63)


def pool_labels(pool: str, args: GpuNodePoolArgs) -> dict[str, str]:
    return gpu_labels.pool_labels(pool, args.gpu_model, args.capacity, device_plugin=NEEDS_DEVICE_PLUGIN[args.ami])


class GpuNodePool(pulumi.ComponentResource):
    node_group_name: pulumi.Output[str]
    physical_node_group_name: str
    """The same name as a plain string, known before deployment (for the autoscaler's priority expander)."""
    capacity: str
    labels: dict[str, str]
    needs_device_plugin: bool

    def __init__(self, name: str, pool: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:aws:GpuNodePool", name, None, opts)
        if args.capacity not in ("spot", "on_demand"):
            raise ValueError(f"capacity must be 'spot' or 'on_demand', got {args.capacity!r}")
        if args.ami not in AMI_TYPES:
            raise ValueError(f"ami must be one of {sorted(AMI_TYPES)}, got {args.ami!r}")
        if not args.min_size <= args.desired_size <= args.max_size:
            raise ValueError("sizes must satisfy min_size <= desired_size <= max_size")
        res = args.reservation
        if res is not None:
            problems = reservation_problems(res, cloud="aws", instance_types=list(args.instance_types),
                                            capacity=args.capacity, min_size=args.min_size, max_size=args.max_size)
            if problems:
                raise ValueError(f"reservation of pool {pool!r}: " + "; ".join(
                    f"{f} {v!r}: {what}; fix: {fix}" for f, v, what, fix in problems))
        o = pulumi.ResourceOptions(parent=self)
        self.labels = pool_labels(pool, args)
        self.needs_device_plugin = NEEDS_DEVICE_PLUGIN[args.ami]
        self.capacity = args.capacity
        self.physical_node_group_name = gpu_node_group_name(str(args.tags.get("stack", "strait")), pool)
        tags = {**args.tags, POOL_LABEL: pool, CAPACITY_LABEL: args.capacity}
        reserved: dict = {}
        if res is not None:
            tags |= reservation_tags(res)
            if res.created_by_strait:
                # "targeted": only launches that name this reservation use it (the launch template below).
                odcr = aws.ec2.CapacityReservation(
                    child(name, "odcr"), instance_type=args.instance_types[0], instance_platform="Linux/UNIX",
                    availability_zone=res.zone, instance_count=res.instance_count, instance_match_criteria="targeted",
                    end_date_type="unlimited", tags=tags, opts=o)
                cr_id: pulumi.Input[str] = odcr.id
            else:
                cr_id = res.existing_id
            reserved["capacity_reservation_specification"] = {"capacity_reservation_target": {"capacity_reservation_id": cr_id}}
            if res.kind == "capacity_block":
                reserved["instance_market_options"] = {"market_type": "capacity-block"}
        cluster_tag = args.cluster_tag_name or (args.cluster_name if isinstance(args.cluster_name, str) else None)
        # Cluster Autoscaler tags (discovery, and node-template labels/taints for scaling from zero). EKS does
        # NOT copy node group tags to the ASG (aws/containers-roadmap#608); it adds the two discovery tags to
        # a managed node group's ASG itself, and the autoscaler reads an empty group's labels and taints via
        # eks:DescribeNodegroup (docs/autoscaling.md). On the node group they record intent.
        asg_tags = {
            "k8s.io/cluster-autoscaler/enabled": "true",
            **({f"k8s.io/cluster-autoscaler/{cluster_tag}": "owned"} if cluster_tag else {}),
            **{f"k8s.io/cluster-autoscaler/node-template/label/{k}": v for k, v in self.labels.items()},
            f"k8s.io/cluster-autoscaler/node-template/taint/{GPU_TAINT_KEY}": "true:NoSchedule",
        }
        lt = aws.ec2.LaunchTemplate(
            child(name, "lt"),
            block_device_mappings=[{
                "device_name": "/dev/xvda",
                "ebs": {"volume_size": args.disk_size_gib, "volume_type": "gp3", "encrypted": "true",
                        "delete_on_termination": "true", "iops": 6000, "throughput": 500},
            }],
            # IMDSv2 only, hop limit 1: pods get AWS credentials from Pod Identity, never from the node.
            metadata_options={"http_endpoint": "enabled", "http_tokens": "required", "http_put_response_hop_limit": 1},
            tag_specifications=[{"resource_type": "instance", "tags": tags}, {"resource_type": "volume", "tags": tags}],
            tags=tags,
            **reserved,
            opts=o,
        )
        ng = aws.eks.NodeGroup(
            child(name, "ng"),
            cluster_name=args.cluster_name,
            node_group_name=self.physical_node_group_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=list(args.subnet_ids),
            ami_type=AMI_TYPES[args.ami],
            capacity_type=("CAPACITY_BLOCK" if res is not None and res.kind == "capacity_block"
                           else "SPOT" if args.capacity == "spot" else "ON_DEMAND"),
            instance_types=list(args.instance_types),
            launch_template={"id": lt.id, "version": lt.latest_version.apply(str)},
            scaling_config={"min_size": args.min_size, "max_size": args.max_size, "desired_size": args.desired_size},
            update_config={"max_unavailable": 1},
            labels=self.labels,
            taints=[{"key": GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}],
            tags={**tags, **asg_tags},
            # The autoscaler owns desired size after creation.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
        )
        self.node_group_name = ng.node_group_name
        self.register_outputs({"node_group_name": self.node_group_name, "labels": self.labels})
