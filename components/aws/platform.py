"""AWS's side of the cloud boundary: network, EKS cluster, GPU node pools (with NVIDIA's device plugin where
the AMI lacks it), Cluster Autoscaler and the S3 weight cache, handed to the blueprint as one
:class:`components.platform.Platform` (GCP's builder, components/gcp/platform.py, has the same shape).

Resource names and parents are those the blueprint used before this builder existed, so a stack that was
already deployed keeps every URN.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import pulumi
import pulumi_aws as aws

from components.aws.database import RdsPostgres, RdsPostgresArgs, rds_identifier
from components.aws.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.aws.eks_cluster import EksCluster, EksClusterArgs
from components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.aws.network import Network, NetworkArgs
from components.aws.storage import AwsObjectStore, ObjectStoreArgs
from components.aws.weight_cache import POD_IDENTITY_AGENT, SeedSpec, WeightCache, WeightCacheArgs, s3_egress
from components.context import StackContext
from components.k8s.namespace import namespace
from components.k8s.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.k8s.priority import PriorityClasses
from components.platform import Database, GpuPool, ObjectStore, Platform
from strait.catalog import Catalog
from strait.catalog.charts import ChartPin
from strait.naming import s3_bucket_name
from strait.reservations import Reservation

#: EBS gp3, created by the cluster component.
STORAGE_CLASS = "gp3"
#: Object stores whose children another component created before they moved here: their URNs alias to the
#: old parent, so an update moves the bucket and role instead of replacing them (a bucket that holds traces
#: could not be deleted, and a role's physical name cannot exist twice).
MOVED_FROM = {"langfuse": "strait:observability:Langfuse"}


@dataclass(frozen=True, kw_only=True)
class AwsPoolSpec:
    instance_types: tuple[str, ...]
    """All with the same GPU model and count (the config checks it against the catalog)."""
    capacity: str = "on_demand"
    min_size: int = 1
    max_size: int = 2
    desired_size: int = 1
    disk_size_gib: int = 200
    ami: str = "al2023_nvidia"
    reservation: Reservation | None = None
    """Reserved capacity (strait.reservations); the pool then uses only the reservation zone's subnet. Default: none."""


@dataclass(frozen=True, kw_only=True)
class AwsPlatformArgs:
    region: str
    cluster_name: str
    kubernetes_version: str
    vpc_cidr: str
    availability_zones: tuple[str, ...]
    nat_gateways: str
    system_instance_type: str
    system_nodes: int
    pools: Mapping[str, AwsPoolSpec]
    serving_namespace: str
    """Created here: the weight cache's seeding Jobs and the readers' identities live in it."""
    models: Mapping[str, SeedSpec]
    """Checkpoints keyed by the stack's model key (each model server's ServiceAccount has that name)."""
    seeder_image: str
    wait_image: str
    device_plugin_image: str
    device_plugin_version: str
    api_public_cidrs: tuple[str, ...] = ()
    """Default: none; the API endpoint is private only."""
    autoscaler_chart: ChartPin | None = None
    """Default: no Cluster Autoscaler; the pools stay at their desired size."""
    scale_down_unneeded_minutes: int = 10
    seed: bool = True
    hf_token: pulumi.Input[str] | None = None
    force_destroy: bool = False
    """Let `pulumi destroy` delete non-empty buckets (weights, traces). Default: off."""
    database_instance_class: str = "db.t4g.medium"
    """RDS instance class of ``platform.database``. Default: db.t4g.medium (2 vCPU, 4 GiB; LiteLLM's keys,
    teams and spend logs)."""
    extra_outputs: Mapping[str, pulumi.Input] = field(default_factory=dict)
    priority_classes: bool = False
    """Create the strait-serving and strait-batch PriorityClasses (components/k8s/priority.py, on
    ``Platform.priority``); the seeding Jobs then run at strait-batch. Default: none, every pod at priority 0."""


def _smallest(cat: Catalog, types: tuple[str, ...]):
    return min((cat.instance_types[t] for t in types), key=lambda it: (it.memory_gib, it.vcpu))


def pool_subnets(pname: str, spec: AwsPoolSpec, zones: tuple[str, ...], subnet_ids: list) -> list:
    """The private subnets of a pool: all of them, or only its reservation zone's (a reservation is zonal; an ASG
    over other zones would launch outside it). ``subnet_ids`` are in the order of ``zones``."""
    zone = spec.reservation.zone if spec.reservation is not None else None
    if zone is None:
        return list(subnet_ids)
    if zone not in zones:
        raise ValueError(f"gpu_pools.{pname}.reservation.zone: {zone!r} is not one of the network's zones "
                         f"({', '.join(zones)}); fix: pick one of them, or raise network.availability_zones")
    return [subnet_ids[zones.index(zone)]]


def build_aws_platform(args: AwsPlatformArgs, ctx: StackContext, cat: Catalog,
                       opts: pulumi.ResourceOptions | None = None) -> Platform:
    """Create AWS's resources for one stack and return the Platform value the Kubernetes layer uses."""
    provider = aws.Provider("aws", region=args.region, opts=opts)
    aws_opts = pulumi.ResourceOptions(providers={"aws": provider})
    net = Network("net", NetworkArgs(cidr=args.vpc_cidr, availability_zones=list(args.availability_zones),
                                     cluster_name=args.cluster_name, nat_gateways=args.nat_gateways,
                                     s3_endpoint_region=args.region, tags=ctx.tags("network")), opts=aws_opts)
    s3 = s3_egress(net.s3_cidrs)  # readers reach S3's prefix list, not the internet
    cluster = EksCluster("cluster", EksClusterArgs(
        cluster_name=args.cluster_name, kubernetes_version=args.kubernetes_version, vpc_id=net.vpc_id,
        private_subnet_ids=net.private_subnet_ids, system_instance_type=args.system_instance_type,
        system_nodes=args.system_nodes, api_public_cidrs=list(args.api_public_cidrs), vpc_cidr=args.vpc_cidr,
        tags=ctx.tags("cluster")), region=args.region, opts=aws_opts)
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    both = pulumi.ResourceOptions(providers={"aws": provider, "kubernetes": cluster.provider})

    nodes: dict[str, GpuNodePool] = {}
    pools: dict[str, GpuPool] = {}
    for pname, spec in sorted(args.pools.items()):
        it = cat.instance_types[spec.instance_types[0]]
        small = _smallest(cat, spec.instance_types)
        nodes[pname] = node = GpuNodePool(f"gpu-{pname}", pname, GpuNodePoolArgs(
            cluster_name=cluster.cluster_name, node_role_arn=cluster.node_role_arn,
            subnet_ids=pool_subnets(pname, spec, args.availability_zones, net.private_subnet_ids),
            reservation=spec.reservation,
            instance_types=list(spec.instance_types), gpu_model=it.gpu, capacity=spec.capacity, min_size=spec.min_size,
            max_size=spec.max_size, desired_size=spec.desired_size, disk_size_gib=spec.disk_size_gib, ami=spec.ami,
            cluster_tag_name=args.cluster_name, tags=ctx.tags("gpu-node-pool")), opts=aws_opts)
        pools[pname] = GpuPool(name=pname, gpu_model=it.gpu, gpus_per_node=it.gpu_count, node_labels=node.labels,
                               capacity=spec.capacity, min_nodes=spec.min_size, max_nodes=spec.max_size,
                               node_vcpu=small.vcpu, node_memory_gib=small.memory_gib,
                               needs_device_plugin=node.needs_device_plugin, resource=node)
    if any(p.needs_device_plugin for p in pools.values()):
        NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(
            image=args.device_plugin_image, version=args.device_plugin_version), opts=k8s_opts)
    if args.autoscaler_chart is not None and nodes:  # scales pools between min and max (docs/autoscaling.md)
        ClusterAutoscaler("cluster-autoscaler", ClusterAutoscalerArgs(
            cluster_name=cluster.cluster_name, cluster_name_plain=args.cluster_name, region=args.region,
            kubernetes_version=args.kubernetes_version, chart=args.autoscaler_chart,
            node_groups={n.physical_node_group_name: n.capacity for n in nodes.values()},
            scale_down_unneeded_minutes=args.scale_down_unneeded_minutes, tags=ctx.tags("autoscaler")),
            opts=pulumi.ResourceOptions.merge(both, pulumi.ResourceOptions(depends_on=list(nodes.values()))))

    serving_ns = namespace(args.serving_namespace, "ns-serving", k8s_opts)
    priority = PriorityClasses("priority", opts=k8s_opts).pod_priorities() if args.priority_classes else {}
    cache = WeightCache("weights", WeightCacheArgs(
        bucket_name=s3_bucket_name(ctx.project, ctx.stack, args.region, "weights"), cluster_name=cluster.cluster_name,
        namespace=args.serving_namespace, reader_service_accounts=sorted(args.models), models=dict(args.models),
        seed=args.seed, hf_token=args.hf_token, force_destroy=args.force_destroy, seeder_image=args.seeder_image,
        region=args.region, wait_image=args.wait_image, object_store_egress=s3, tags=ctx.tags("weight-cache"),
        seed_priority=priority.get("batch")),
        opts=pulumi.ResourceOptions.merge(both, pulumi.ResourceOptions(depends_on=[serving_ns])))

    def bind_identity(name: str, *, namespace: str, service_account: str, identity: pulumi.Input[str],
                      opts: pulumi.ResourceOptions | None = None) -> Mapping[str, str]:
        """EKS Pod Identity: let ``namespace/service_account`` assume the IAM role ``identity`` (its ARN)."""
        aws.eks.PodIdentityAssociation(name, cluster_name=cluster.cluster_name, namespace=namespace,
                                       service_account=service_account, role_arn=identity,
                                       tags=ctx.tags("identity"), opts=pulumi.ResourceOptions.merge(aws_opts, opts))
        return {}  # Pod Identity needs no ServiceAccount annotation

    def object_store(purpose: str, *, namespace: str, service_account: str,
                     expire_days: Mapping[str, int] | None = None, force_destroy: bool = False,
                     opts: pulumi.ResourceOptions | None = None) -> ObjectStore:
        moved = MOVED_FROM.get(purpose)
        aliases = [pulumi.Alias(parent=f"urn:pulumi:{ctx.stack}::{ctx.project}::{moved}::{purpose}")] if moved else []
        store = AwsObjectStore(purpose, ObjectStoreArgs(
            bucket_name=s3_bucket_name(ctx.project, ctx.stack, args.region, purpose), region=args.region,
            cluster_name=cluster.cluster_name, namespace=namespace, service_account=service_account,
            tags=ctx.tags(purpose), expire_days=dict(expire_days or {}), force_destroy=force_destroy,
            egress=(POD_IDENTITY_AGENT, s3)), opts=pulumi.ResourceOptions.merge(aws_opts, opts),
            child_aliases=aliases)
        return store.store

    def database(purpose: str, *, storage_gib: int = 20, high_availability: bool = False,
                 backup_retention_days: int = 7, deletion_protection: bool = True,
                 opts: pulumi.ResourceOptions | None = None) -> Database:
        """RDS for PostgreSQL in the private subnets, admitting the cluster's security group only."""
        ident = rds_identifier(args.cluster_name, purpose)
        db = RdsPostgres(f"db-{purpose}", RdsPostgresArgs(
            identifier=ident, vpc_id=net.vpc_id, vpc_cidr=args.vpc_cidr, private_subnet_ids=net.private_subnet_ids,
            client_security_group_id=cluster.security_group_id, instance_class=args.database_instance_class,
            storage_gib=storage_gib, max_storage_gib=max(100, storage_gib), high_availability=high_availability,
            backup_retention_days=backup_retention_days, deletion_protection=deletion_protection,
            tags=ctx.tags(f"database-{purpose}")), opts=pulumi.ResourceOptions.merge(aws_opts, opts))
        return db.database

    return Platform(
        cloud="aws", region=args.region, k8s_provider=cluster.provider, cluster_name=cluster.cluster_name,
        gpu_pools=pools, weights=cache.weights, storage_class=STORAGE_CLASS, bind_identity=bind_identity,
        object_store=object_store, database=database, namespaces={args.serving_namespace: serving_ns},
        allows={"api_server_egress": cluster.api_server_egress, "node_metrics_egress": cluster.node_metrics_egress,
                "webhook_ingress": cluster.webhook_ingress},
        outputs={"cluster_name": cluster.cluster_name, "weight_bucket": cache.bucket_name, **args.extra_outputs},
        extra={"aws_provider": provider}, priority=priority,
    )
