"""A GPU node pool on GKE: G2 (L4), A2 (A100 40/80 GB) or A3 (H100), GKE-installed NVIDIA driver,
spot or on-demand, tainted so only GPU pods land there, autoscaled between a total min and max.

GKE installs the driver (``gpu_driver_installation_config``) and runs NVIDIA's device plugin itself,
so Strait deploys no device-plugin DaemonSet on GKE (``GpuPool.needs_device_plugin`` is False).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi
import pulumi_gcp as gcp

from strait.gke import ACCELERATOR_TYPES
from strait.gpu_labels import CAPACITIES, GPU_TAINT_KEY, pool_labels
from strait.naming import child, dns_label
from strait.reservations import GCP_RESERVED_NODES_LABEL, GKE_RESERVATION_KEY, Reservation, reservation_problems

#: Machine families whose GPUs are part of the machine type (the count must match the type's own).
GPU_FAMILIES = ("g2-", "a2-", "a3-")
DRIVER_VERSIONS = ("DEFAULT", "LATEST")
COMPUTE_CLASS_LABEL = "cloud.google.com/compute-class"
#: GKE itself taints GPU nodes with nvidia.com/gpu=present:NoSchedule; Strait states the same taint so the
#: pool's intent is visible in the plan (pods tolerate the key with operator Exists).
GPU_TAINT_VALUE = "present"


def location_policy(capacity: str) -> str:
    """ANY for spot: the autoscaler takes whichever zone has capacity (less preemption risk). BALANCED for
    on-demand: spread nodes, so one zone's outage takes at most its share of replicas."""
    return "ANY" if capacity == "spot" else "BALANCED"


def gke_pool_name(pool: str) -> str:
    """Node pool names are at most 40 characters on GKE."""
    return dns_label(f"gpu-{pool}", 40)


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolArgs:
    machine_type: str
    """A G2/A2/A3 machine type from the catalog (its GPUs are attached by the type itself)."""
    gpu_model: str
    """Catalog GPU key (L4, A100-40GB, A100-80GB, H100-80GB)."""
    gpus_per_node: int
    zones: Sequence[str]
    """Zones of the region where the catalog offers the machine type; nodes are placed only there."""
    labels: dict[str, str]
    """GCP resource labels for the VMs and disks."""
    capacity: str = "on_demand"
    """'spot' (Spot VMs, preemptible at any time, 60-91% off) or 'on_demand'."""
    min_nodes: int = 0
    """Total minimum across zones. Default: 0, the pool can scale to nothing."""
    max_nodes: int = 2
    """Total maximum across zones."""
    disk_size_gib: int = 200
    driver_version: str = "LATEST"
    """GKE-managed NVIDIA driver: LATEST or DEFAULT for the node's GKE version. Default: LATEST (needed for
    recent CUDA in the vLLM image)."""
    compute_class: str | None = None
    """Make the pool part of a custom ComputeClass (spot -> on-demand fallback, docs/gke.md). Default: none."""
    reservation: Reservation | None = None
    """A Compute Engine reservation (kind 'gke') the pool consumes (SPECIFIC_RESERVATION): Strait creates one of
    ``instance_count`` machines in ``reservation.zone``, or uses ``existing_id``. The pool's nodes are then placed
    in that zone only. Default: none."""


def check_args(args: GpuNodePoolArgs) -> list[str]:
    errors = []
    if args.capacity not in CAPACITIES:
        errors.append(f"capacity: {args.capacity!r} is not one of {', '.join(CAPACITIES)}")
    if args.gpu_model not in ACCELERATOR_TYPES:
        errors.append(f"gpu_model: {args.gpu_model!r} has no GKE accelerator; fix: one of {', '.join(ACCELERATOR_TYPES)}")
    if not args.machine_type.startswith(GPU_FAMILIES):
        errors.append(f"machine_type: {args.machine_type!r} is not a G2/A2/A3 type; fix: pick one from the catalog")
    if args.gpus_per_node < 1:
        errors.append(f"gpus_per_node: {args.gpus_per_node} must be at least 1")
    if not args.zones:
        errors.append("zones: empty; fix: the catalog lists the zones offering the machine type")
    if not 0 <= args.min_nodes <= args.max_nodes or args.max_nodes < 1:
        errors.append(f"min_nodes/max_nodes: {args.min_nodes}/{args.max_nodes}; fix: 0 <= min_nodes <= max_nodes, max >= 1")
    if args.driver_version not in DRIVER_VERSIONS:
        errors.append(f"driver_version: {args.driver_version!r} is not one of {', '.join(DRIVER_VERSIONS)}")
    if args.reservation is not None:
        r = args.reservation
        errors += [f"reservation.{f}: {v!r} {what}; fix: {fix}" for f, v, what, fix in reservation_problems(
            r, cloud="gcp", instance_types=[args.machine_type], capacity=args.capacity, min_size=args.min_nodes,
            max_size=args.max_nodes)]
        if r.zone and r.zone not in args.zones:
            errors.append(f"reservation.zone: {r.zone!r} is not one of the pool's zones ({', '.join(args.zones)}); "
                          "fix: reserve in a zone that offers the machine type")
    return errors


class GpuNodePool(pulumi.ComponentResource):
    node_pool_name: pulumi.Output[str]
    physical_name: str
    capacity: str
    labels: dict[str, str]
    """Kubernetes node labels (strait.gpu_labels.pool_labels, plus the compute class when set)."""
    needs_device_plugin: bool = False
    pool: gcp.container.NodePool

    def __init__(self, name: str, pool: str, cluster, args: GpuNodePoolArgs,
                 opts: pulumi.ResourceOptions | None = None):
        """``cluster`` is the :class:`components.gcp.gke_cluster.GkeCluster` value (not loose fields)."""
        super().__init__("strait:gcp:GpuNodePool", name, None, opts)
        errors = check_args(args)
        if errors:
            raise ValueError(f"invalid GPU node pool {pool!r}:\n  " + "\n  ".join(errors))
        self.capacity = args.capacity
        self.labels = pool_labels(pool, args.gpu_model, args.capacity)
        taints = [gcp.container.NodePoolNodeConfigTaintArgs(key=GPU_TAINT_KEY, value=GPU_TAINT_VALUE, effect="NO_SCHEDULE")]
        if args.compute_class:
            # A manually created pool joins a ComputeClass by its label and taint; GKE adds the matching
            # toleration to pods that select the class.
            self.labels[COMPUTE_CLASS_LABEL] = args.compute_class
            taints.append(gcp.container.NodePoolNodeConfigTaintArgs(key=COMPUTE_CLASS_LABEL, value=args.compute_class,
                                                                    effect="NO_SCHEDULE"))
        self.physical_name = gke_pool_name(pool)
        res, zones, reserved_labels, affinity = args.reservation, list(args.zones), {}, None
        if res is not None:
            reservation_name = res.existing_id or dns_label(f"{self.physical_name}-reservation", 63)
            if res.created_by_strait:
                gcp.compute.Reservation(
                    child(name, "reservation"), name=reservation_name, project=cluster.project, zone=res.zone,
                    # Only node pools that name it consume it (reservation_affinity below), not any matching VM.
                    specific_reservation_required=True,
                    specific_reservation=gcp.compute.ReservationSpecificReservationArgs(
                        count=res.instance_count,
                        instance_properties=gcp.compute.ReservationSpecificReservationInstancePropertiesArgs(
                            machine_type=args.machine_type)),
                    opts=pulumi.ResourceOptions(parent=self))
                zones = [res.zone]
            affinity = gcp.container.NodePoolNodeConfigReservationAffinityArgs(
                consume_reservation_type="SPECIFIC_RESERVATION", key=GKE_RESERVATION_KEY, values=[reservation_name])
            reserved_labels = {GCP_RESERVED_NODES_LABEL: str(res.instance_count)}
        self.pool = gcp.container.NodePool(
            child(name, "np"),
            name=self.physical_name,
            project=cluster.project,
            location=cluster.region,
            cluster=cluster.cluster_name,
            node_locations=zones,
            initial_node_count=args.min_nodes // max(1, len(zones)) if args.min_nodes else 0,
            autoscaling=gcp.container.NodePoolAutoscalingArgs(
                total_min_node_count=args.min_nodes, total_max_node_count=args.max_nodes,
                location_policy=location_policy(args.capacity)),
            management=gcp.container.NodePoolManagementArgs(auto_repair=True, auto_upgrade=True),
            # Surge one node at a time: GPU quota rarely covers a second full set of nodes.
            upgrade_settings=gcp.container.NodePoolUpgradeSettingsArgs(max_surge=1, max_unavailable=0),
            node_config=gcp.container.NodePoolNodeConfigArgs(
                machine_type=args.machine_type,
                spot=args.capacity == "spot",
                guest_accelerators=[gcp.container.NodePoolNodeConfigGuestAcceleratorArgs(
                    type=ACCELERATOR_TYPES[args.gpu_model], count=args.gpus_per_node,
                    gpu_driver_installation_config=gcp.container.NodePoolNodeConfigGuestAcceleratorGpuDriverInstallationConfigArgs(
                        gpu_driver_version=args.driver_version))],
                image_type="COS_CONTAINERD",
                disk_type="pd-ssd",
                disk_size_gb=args.disk_size_gib,
                service_account=cluster.node_service_account,
                oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                labels=self.labels,
                taints=taints,
                resource_labels={**args.labels, "strait-pool": dns_label(pool, 63), "strait-capacity": args.capacity,
                                 **reserved_labels},
                reservation_affinity=affinity,
                metadata={"disable-legacy-endpoints": "true"},
                shielded_instance_config=gcp.container.NodePoolNodeConfigShieldedInstanceConfigArgs(
                    enable_secure_boot=True, enable_integrity_monitoring=True),
                workload_metadata_config=gcp.container.NodePoolNodeConfigWorkloadMetadataConfigArgs(mode="GKE_METADATA"),
                gvnic=gcp.container.NodePoolNodeConfigGvnicArgs(enabled=True),
            ),
            # The autoscaler owns the node count after creation.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["initialNodeCount", "nodeCount"]),
        )
        self.node_pool_name = self.pool.name
        self.register_outputs({"node_pool_name": self.node_pool_name, "labels": self.labels})


def render_compute_class(name: str, spot_pools: Sequence[str], on_demand_pools: Sequence[str]) -> dict:
    """A GKE custom ComputeClass that prefers the spot pools and falls back to the on-demand ones.

    Pure. The cluster autoscaler tries the priorities in order: when the spot pools cannot scale up
    (no Spot capacity in any of their zones, or they hit max), it scales the on-demand pools.
    ``nodePoolAutoCreation`` stays off: only the pools Strait created are used, so quota and price stay as
    planned. ``activeMigration.optimizeRulePriority`` moves pods back to spot when capacity returns.
    """
    if not spot_pools or not on_demand_pools:
        raise ValueError("a spot -> on-demand ComputeClass needs at least one spot and one on-demand pool")
    return {
        "apiVersion": "cloud.google.com/v1",
        "kind": "ComputeClass",
        "metadata": {"name": name},
        "spec": {
            "priorities": [{"nodepools": sorted(spot_pools)}, {"nodepools": sorted(on_demand_pools)}],
            "activeMigration": {"optimizeRulePriority": True},
            "nodePoolAutoCreation": {"enabled": False},
            "whenUnsatisfiable": "DoNotScaleUp",
        },
    }
