"""GCP's side of the cloud boundary: build network, GKE cluster, GPU node pools and the GCS weight
cache, and hand the blueprint one :class:`components.platform.Platform` (same shape as AWS's)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import StackContext
from components.gcp.gke_cluster import STORAGE_CLASS, GkeCluster, GkeClusterArgs
from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, gke_pool_name, render_compute_class
from components.gcp.network import Network, NetworkArgs
from components.gcp.weight_cache import WI_ANNOTATION, SeedSpec, WeightCache, WeightCacheArgs, workload_identity_member
from components.platform import GpuPool, Platform
from strait.catalog import Catalog
from strait.naming import dns_label
from strait.tags import gcp_labels


@dataclass(frozen=True, kw_only=True)
class GcpPoolSpec:
    machine_type: str
    capacity: str = "on_demand"
    min_nodes: int = 0
    max_nodes: int = 2
    disk_size_gib: int = 200
    zones: tuple[str, ...] = ()
    """Zones for the pool. Default: every zone of the region where the catalog offers the machine type."""


@dataclass(frozen=True, kw_only=True)
class GcpPlatformArgs:
    project: str
    region: str
    cluster_name: str
    kubernetes_version: str
    serving_namespace: str
    bucket_name: str
    pools: Mapping[str, GcpPoolSpec]
    models: Mapping[str, SeedSpec]
    """Checkpoints keyed by the stack's model key (each model server's ServiceAccount has that name)."""
    seeder_image: str
    wait_image: str
    release_channel: str = "REGULAR"
    nodes_cidr: str = "10.40.0.0/20"
    pods_cidr: str = "10.48.0.0/14"
    services_cidr: str = "10.52.0.0/20"
    master_cidr: str = "172.16.0.0/28"
    api_public_cidrs: tuple[str, ...] = ()
    system_machine_type: str = "e2-standard-4"
    system_nodes_per_zone: int = 1
    system_zones: int = 3
    """How many of the region's zones the control plane's node pools span. Default: 3."""
    seed: bool = True
    hf_token: pulumi.Input[str] | None = None
    force_destroy: bool = False
    deletion_protection: bool = True
    spot_fallback: bool = False
    """Group each GPU model's spot and on-demand pools in a ComputeClass (spot first). Only workloads that
    select ``cloud.google.com/compute-class`` use it; Strait's model servers pin one pool today."""


def pool_zones(cat: Catalog, machine_type: str, region: str, wanted: tuple[str, ...] = ()) -> list[str]:
    """Zones where the catalog shows ``machine_type`` offered in ``region`` (intersected with ``wanted``)."""
    offer = cat.offer(machine_type, region)
    if offer is None:
        raise ValueError(f"{machine_type} is not offered in {region} per the catalog")
    zones = list(offer.price.zones or cat.regions[region].zones)
    if wanted:
        zones = [z for z in zones if z in wanted]
    return zones


def build_gcp_platform(args: GcpPlatformArgs, ctx: StackContext, cat: Catalog,
                       opts: pulumi.ResourceOptions | None = None) -> Platform:
    """Create GCP's resources for one stack and return the Platform value the Kubernetes layer uses."""
    provider = gcp.Provider("gcp", project=args.project, region=args.region,
                            default_labels=gcp_labels(ctx.tags("platform")),
                            opts=opts)
    g = pulumi.ResourceOptions(providers={"gcp": provider})
    labels = lambda component: gcp_labels(ctx.tags(component))  # noqa: E731
    region_zones = list(cat.regions[args.region].zones)
    net = Network("net", NetworkArgs(project=args.project, region=args.region, network_name=args.cluster_name,
                                     nodes_cidr=args.nodes_cidr, pods_cidr=args.pods_cidr,
                                     services_cidr=args.services_cidr), opts=g)
    cluster = GkeCluster("cluster", GkeClusterArgs(
        project=args.project, region=args.region, cluster_name=args.cluster_name,
        kubernetes_version=args.kubernetes_version, release_channel=args.release_channel,
        network_id=net.network_id, subnet_id=net.subnet_id, pods_range_name=net.pods_range_name,
        services_range_name=net.services_range_name, node_zones=region_zones[: args.system_zones],
        master_cidr=args.master_cidr, api_public_cidrs=list(args.api_public_cidrs),
        system_machine_type=args.system_machine_type, system_nodes_per_zone=args.system_nodes_per_zone,
        deletion_protection=args.deletion_protection, labels=labels("cluster")), opts=g)
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    both = pulumi.ResourceOptions(providers={"gcp": provider, "kubernetes": cluster.provider})

    classes = _fallback_classes(args, cat) if args.spot_fallback else {}
    pools: dict[str, GpuPool] = {}
    for pname, spec in sorted(args.pools.items()):
        it = cat.instance_types[spec.machine_type]
        comp = GpuNodePool(f"gpu-{pname}", pname, cluster, GpuNodePoolArgs(
            machine_type=spec.machine_type, gpu_model=it.gpu, gpus_per_node=it.gpu_count,
            zones=pool_zones(cat, spec.machine_type, args.region, spec.zones), capacity=spec.capacity,
            min_nodes=spec.min_nodes, max_nodes=spec.max_nodes, disk_size_gib=spec.disk_size_gib,
            compute_class=classes.get(pname), labels=labels("gpu-node-pool")), opts=g)
        pools[pname] = GpuPool(name=pname, gpu_model=it.gpu, gpus_per_node=it.gpu_count, node_labels=comp.labels,
                               capacity=spec.capacity, min_nodes=spec.min_nodes, max_nodes=spec.max_nodes,
                               node_vcpu=it.vcpu, node_memory_gib=it.memory_gib, needs_device_plugin=False,
                               resource=comp)
    for cls in sorted(set(classes.values())):
        members = [p for p, c in classes.items() if c == cls]
        doc = render_compute_class(cls, [gke_pool_name(p) for p in members if pools[p].capacity == "spot"],
                                   [gke_pool_name(p) for p in members if pools[p].capacity == "on_demand"])
        k8s.apiextensions.CustomResource(f"computeclass-{cls}", api_version=doc["apiVersion"], kind=doc["kind"],
                                         metadata=doc["metadata"], spec=doc["spec"], opts=k8s_opts)

    cache = WeightCache("weights", WeightCacheArgs(
        project=args.project, region=args.region, bucket_name=args.bucket_name, workload_pool=cluster.workload_pool,
        namespace=args.serving_namespace, reader_service_accounts=sorted(args.models), models=dict(args.models),
        labels=labels("weight-cache"), seeder_image=args.seeder_image, wait_image=args.wait_image,
        storage_class=STORAGE_CLASS, seed=args.seed, hf_token=args.hf_token, force_destroy=args.force_destroy),
        opts=both)

    def bind_identity(name: str, *, namespace: str, service_account: str, identity: str,
                      opts: pulumi.ResourceOptions | None = None) -> Mapping[str, str]:
        """Let ``namespace/service_account`` act as the Google service account ``identity`` (its e-mail)."""
        gcp.serviceaccount.IAMMember(
            name, service_account_id=f"projects/{args.project}/serviceAccounts/{identity}",
            role="roles/iam.workloadIdentityUser",
            member=workload_identity_member(cluster.workload_pool, namespace, service_account),
            opts=pulumi.ResourceOptions.merge(g, opts))
        return {WI_ANNOTATION: identity}

    return Platform(
        cloud="gcp",
        region=args.region,
        k8s_provider=cluster.provider,
        cluster_name=cluster.cluster_name,
        gpu_pools=pools,
        weights=cache.weights,
        storage_class=STORAGE_CLASS,
        bind_identity=bind_identity,
        outputs={"cluster_name": cluster.cluster_name, "weight_bucket": cache.bucket_name,
                 "kubeconfig_command": pulumi.Output.concat(
                     "gcloud container clusters get-credentials ", cluster.cluster_name,
                     f" --region {args.region} --project {args.project}")},
        extra={"gcp_provider": provider, "project": args.project, "workload_pool": cluster.workload_pool,
               "labels": labels},
    )


def _fallback_classes(args: GcpPlatformArgs, cat: Catalog) -> dict[str, str]:
    """Pool -> ComputeClass name, for each GPU model that has both a spot and an on-demand pool."""
    by_gpu: dict[str, list[str]] = {}
    for pname, spec in args.pools.items():
        by_gpu.setdefault(cat.instance_types[spec.machine_type].gpu, []).append(pname)
    out = {}
    for gpu, names in by_gpu.items():
        caps = {args.pools[n].capacity for n in names}
        if caps == {"spot", "on_demand"}:
            for n in names:
                out[n] = dns_label(f"strait-{gpu}-spot-first", 63)
    return out
