"""GCP's side of the cloud boundary: network, GKE cluster, GPU node pools and the GCS weight cache, handed
to the blueprint as one :class:`components.platform.Platform` (same shape as components/aws/platform.py).

GKE installs the NVIDIA driver and device plugin itself, and its managed cluster autoscaler scales every
pool between its min and max: no device-plugin DaemonSet and no Cluster Autoscaler release here.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_gcp as gcp
import pulumi_kubernetes as k8s

from components.context import StackContext
from components.gcp.database import CloudSqlPostgres, CloudSqlPostgresArgs, cloudsql_instance_name
from components.gcp.gke_cluster import STORAGE_CLASS, GkeCluster, GkeClusterArgs
from components.gcp.gpu_node_pool import GpuNodePool, GpuNodePoolArgs, gke_pool_name, render_compute_class
from components.gcp.network import Network, NetworkArgs
from components.gcp.storage import WI_ANNOTATION, GcsObjectStore, ObjectStoreArgs, workload_identity_member
from components.gcp.weight_cache import SeedSpec, WeightCache, WeightCacheArgs
from components.k8s.namespace import namespace
from components.k8s.priority import PriorityClasses
from components.platform import Database, GpuPool, ObjectStore, Platform
from strait.catalog import Catalog
from strait.naming import dns_label, s3_bucket_name
from strait.reservations import Reservation
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
    reservation: Reservation | None = None
    """A Compute Engine reservation (kind 'gke') the pool consumes; its nodes then live in its zone. Default: none."""


@dataclass(frozen=True, kw_only=True)
class GcpPlatformArgs:
    project: str
    region: str
    cluster_name: str
    kubernetes_version: str
    serving_namespace: str
    """Created here: the weight cache's seeding Jobs and the readers' identities live in it."""
    pools: Mapping[str, GcpPoolSpec]
    models: Mapping[str, SeedSpec]
    """Checkpoints keyed by the stack's model key (each model server's ServiceAccount has that name)."""
    seeder_image: str
    wait_image: str
    """An image with gcloud: the init container that waits for a model's completion marker."""
    release_channel: str = "REGULAR"
    nodes_cidr: str = "10.40.0.0/20"
    pods_cidr: str = "10.48.0.0/14"
    services_cidr: str = "10.52.0.0/20"
    master_cidr: str = "172.16.0.0/28"
    api_public_cidrs: tuple[str, ...] = ()
    """Default: none; the API endpoint is private only."""
    system_machine_type: str = "e2-standard-8"
    system_nodes: int = 3
    """Total system nodes; spread one per zone over min(system_nodes, zones) zones."""
    seed: bool = True
    hf_token: pulumi.Input[str] | None = None
    force_destroy: bool = False
    """Let `pulumi destroy` delete non-empty buckets (weights, traces). Default: off."""
    deletion_protection: bool = True
    database_tier: str = "db-custom-2-7680"
    """Cloud SQL machine tier of ``platform.database``. Default: 2 vCPU, 7.5 GiB."""
    database_reserved_cidr: str = "10.56.0.0/16"
    """Range reserved for Google's service networking (Cloud SQL's private IP). Default: 10.56.0.0/16, clear of
    the default nodes, pods and services ranges."""
    spot_fallback: bool = False
    webhook_ports: tuple[int, ...] = ()
    """Ports of admission webhooks served by pods beyond 443/10250 (LWS: 9443), which a firewall rule opens from
    the control plane's range to the nodes (a private cluster's own rules do not). Default: none."""
    """Group each GPU model's spot and on-demand pools in a ComputeClass (spot first). Only workloads that
    select ``cloud.google.com/compute-class`` use it; Strait's model servers pin one pool today."""
    extra_outputs: Mapping[str, pulumi.Input] = field(default_factory=dict)
    priority_classes: bool = False
    """Create the strait-serving and strait-batch PriorityClasses (components/k8s/priority.py, on
    ``Platform.priority``); the seeding Jobs then run at strait-batch. Default: none, every pod at priority 0."""


def pool_zones(cat: Catalog, machine_type: str, region: str, wanted: tuple[str, ...] = ()) -> list[str]:
    """Zones where the catalog shows ``machine_type`` offered in ``region`` (intersected with ``wanted``)."""
    offer = cat.offer(machine_type, region)
    if offer is None:
        raise ValueError(f"{machine_type} is not offered in {region} per the catalog")
    zones = list(offer.price.zones or cat.regions[region].zones)
    return [z for z in zones if z in wanted] if wanted else zones


def fallback_classes(pools: Mapping[str, GcpPoolSpec], cat: Catalog) -> dict[str, str]:
    """Pool -> ComputeClass name, for each GPU model that has both a spot and an on-demand pool."""
    by_gpu: dict[str, list[str]] = {}
    for pname, spec in pools.items():
        by_gpu.setdefault(cat.instance_types[spec.machine_type].gpu, []).append(pname)
    out = {}
    for gpu, names in sorted(by_gpu.items()):
        if {pools[n].capacity for n in names} == {"spot", "on_demand"}:
            out.update({n: dns_label(f"strait-{gpu}-spot-first", 63) for n in names})
    return out


def build_gcp_platform(args: GcpPlatformArgs, ctx: StackContext, cat: Catalog,
                       opts: pulumi.ResourceOptions | None = None) -> Platform:
    """Create GCP's resources for one stack and return the Platform value the Kubernetes layer uses."""
    provider = gcp.Provider("gcp", project=args.project, region=args.region, opts=opts)
    g = pulumi.ResourceOptions(providers={"gcp": provider})
    labels = lambda component: gcp_labels(ctx.tags(component))  # noqa: E731
    region_zones = list(cat.regions[args.region].zones)
    net = Network("net", NetworkArgs(project=args.project, region=args.region, network_name=args.cluster_name,
                                     nodes_cidr=args.nodes_cidr, pods_cidr=args.pods_cidr,
                                     services_cidr=args.services_cidr), opts=g)
    system_zones = region_zones[: max(1, min(args.system_nodes, len(region_zones)))]
    cluster = GkeCluster("cluster", GkeClusterArgs(
        project=args.project, region=args.region, cluster_name=args.cluster_name,
        kubernetes_version=args.kubernetes_version, release_channel=args.release_channel,
        network_id=net.network_id, subnet_id=net.subnet_id, pods_range_name=net.pods_range_name,
        services_range_name=net.services_range_name, node_zones=system_zones, master_cidr=args.master_cidr,
        nodes_cidr=args.nodes_cidr, services_cidr=args.services_cidr, api_public_cidrs=list(args.api_public_cidrs),
        system_machine_type=args.system_machine_type,
        system_nodes_per_zone=-(-args.system_nodes // len(system_zones)), webhook_ports=tuple(args.webhook_ports),
        deletion_protection=args.deletion_protection, labels=labels("cluster")), opts=g)
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    both = pulumi.ResourceOptions(providers={"gcp": provider, "kubernetes": cluster.provider})

    classes = fallback_classes(args.pools, cat) if args.spot_fallback else {}
    pools: dict[str, GpuPool] = {}
    for pname, spec in sorted(args.pools.items()):
        it = cat.instance_types[spec.machine_type]
        node = GpuNodePool(f"gpu-{pname}", pname, cluster, GpuNodePoolArgs(
            machine_type=spec.machine_type, gpu_model=it.gpu, gpus_per_node=it.gpu_count,
            zones=pool_zones(cat, spec.machine_type, args.region, spec.zones), capacity=spec.capacity,
            min_nodes=spec.min_nodes, max_nodes=spec.max_nodes, disk_size_gib=spec.disk_size_gib,
            compute_class=classes.get(pname), reservation=spec.reservation, labels=labels("gpu-node-pool")), opts=g)
        pools[pname] = GpuPool(name=pname, gpu_model=it.gpu, gpus_per_node=it.gpu_count, node_labels=node.labels,
                               capacity=spec.capacity, min_nodes=spec.min_nodes, max_nodes=spec.max_nodes,
                               node_vcpu=it.vcpu, node_memory_gib=it.memory_gib, needs_device_plugin=False,
                               resource=node)
    for cls in sorted(set(classes.values())):
        members = sorted(p for p, c in classes.items() if c == cls)
        doc = render_compute_class(cls, [gke_pool_name(p) for p in members if args.pools[p].capacity == "spot"],
                                   [gke_pool_name(p) for p in members if args.pools[p].capacity == "on_demand"])
        k8s.apiextensions.CustomResource(f"computeclass-{cls}", api_version=doc["apiVersion"], kind=doc["kind"],
                                         metadata=doc["metadata"], spec=doc["spec"],
                                         opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(parent=cluster)))

    serving_ns = namespace(args.serving_namespace, "ns-serving", k8s_opts)
    priority = PriorityClasses("priority", opts=k8s_opts).pod_priorities() if args.priority_classes else {}
    cache = WeightCache("weights", WeightCacheArgs(
        project=args.project, region=args.region,
        bucket_name=s3_bucket_name(ctx.project, ctx.stack, args.region, "weights"),
        workload_pool=cluster.workload_pool, namespace=args.serving_namespace,
        reader_service_accounts=sorted(args.models), models=dict(args.models), labels=labels("weight-cache"),
        seeder_image=args.seeder_image, wait_image=args.wait_image, storage_class=STORAGE_CLASS, seed=args.seed,
        hf_token=args.hf_token, force_destroy=args.force_destroy, seed_priority=priority.get("batch")),
        opts=pulumi.ResourceOptions.merge(both, pulumi.ResourceOptions(depends_on=[serving_ns])))

    def bind_identity(name: str, *, namespace: str, service_account: str, identity: pulumi.Input[str],
                      opts: pulumi.ResourceOptions | None = None) -> Mapping[str, str]:
        """Workload Identity: let ``namespace/service_account`` act as the Google service account ``identity``
        (its e-mail). The ServiceAccount must carry the returned annotation."""
        gcp.serviceaccount.IAMMember(
            name, service_account_id=pulumi.Output.concat("projects/", args.project, "/serviceAccounts/", identity),
            role="roles/iam.workloadIdentityUser",
            member=workload_identity_member(cluster.workload_pool, namespace, service_account),
            opts=pulumi.ResourceOptions.merge(g, opts))
        return {WI_ANNOTATION: identity}

    def object_store(purpose: str, *, namespace: str, service_account: str,
                     expire_days: Mapping[str, int] | None = None, force_destroy: bool = False,
                     opts: pulumi.ResourceOptions | None = None) -> ObjectStore:
        store = GcsObjectStore(purpose, ObjectStoreArgs(
            bucket_name=s3_bucket_name(ctx.project, ctx.stack, args.region, purpose), project=args.project,
            region=args.region, workload_pool=cluster.workload_pool, namespace=namespace,
            service_account=service_account, labels=labels(purpose), expire_days=dict(expire_days or {}),
            force_destroy=force_destroy), opts=pulumi.ResourceOptions.merge(g, opts))
        return store.store

    def database(purpose: str, *, storage_gib: int = 20, high_availability: bool = False,
                 backup_retention_days: int = 7, deletion_protection: bool = True,
                 opts: pulumi.ResourceOptions | None = None) -> Database:
        """Cloud SQL for PostgreSQL with a private IP only, peered into the cluster's VPC."""
        reserved = ipaddress.ip_network(args.database_reserved_cidr)
        for what, cidr in (("nodes_cidr", args.nodes_cidr), ("pods_cidr", args.pods_cidr),
                           ("services_cidr", args.services_cidr), ("master_cidr", args.master_cidr)):
            if reserved.overlaps(ipaddress.ip_network(cidr)):
                raise ValueError(f"database_reserved_cidr {reserved} overlaps {what} {cidr}: the peered range would "
                                 "shadow the cluster's own addresses; choose a free range for database_reserved_cidr")
        db = CloudSqlPostgres(f"db-{purpose}", CloudSqlPostgresArgs(
            project=args.project, region=args.region, instance_name=cloudsql_instance_name(args.cluster_name, purpose),
            network_id=net.network_id, reserved_cidr=args.database_reserved_cidr, tier=args.database_tier,
            storage_gib=storage_gib, high_availability=high_availability,
            backup_retention_days=backup_retention_days, deletion_protection=deletion_protection,
            labels=labels(f"database-{purpose}")), opts=pulumi.ResourceOptions.merge(g, opts))
        return db.database

    return Platform(
        cloud="gcp", region=args.region, k8s_provider=cluster.provider, cluster_name=cluster.cluster_name,
        gpu_pools=pools, weights=cache.weights, storage_class=STORAGE_CLASS, bind_identity=bind_identity,
        object_store=object_store, database=database, namespaces={args.serving_namespace: serving_ns},
        allows={"api_server_egress": cluster.api_server_egress, "node_metrics_egress": cluster.node_metrics_egress,
                "webhook_ingress": cluster.webhook_ingress},
        outputs={"cluster_name": cluster.cluster_name, "weight_bucket": cache.bucket_name,
                 "kubeconfig_command": pulumi.Output.concat(
                     "gcloud container clusters get-credentials ", cluster.cluster_name,
                     f" --region {args.region} --project {args.project}"),
                 **args.extra_outputs},
        extra={"gcp_provider": provider, "project": args.project, "workload_pool": cluster.workload_pool},
        priority=priority,
    )
