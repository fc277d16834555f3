"""The cloud boundary: the one small value a cloud hands a blueprint.

A blueprint picks its cloud once (``cfg.cloud``), builds that cloud's platform (``components/aws`` or
``components/gcp``, same shape: network, cluster, GPU node pools, weight cache), and from then on sees
only a :class:`Platform`. ``components/k8s/`` takes these values and never imports a cloud folder.
Pure dataclasses: no cloud SDK here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Protocol, Sequence

import pulumi


@dataclass(frozen=True, kw_only=True)
class GpuPool:
    """One GPU node pool, as Kubernetes workloads see it."""

    name: str
    gpu_model: str
    """Catalog GPU key (T4, L4, A100-80GB, H100 ...)."""
    gpus_per_node: int
    node_labels: Mapping[str, str]
    """Labels every node of the pool carries (strait.gpu_labels.pool_labels); model servers select on them."""
    capacity: str
    """'spot' or 'on_demand'."""
    min_nodes: int
    max_nodes: int
    node_vcpu: float
    node_memory_gib: float
    needs_device_plugin: bool = False
    """True where Strait must run NVIDIA's device plugin (EKS AL2023); GKE installs its own."""
    resource: pulumi.Resource | None = None
    """The pool's resource, for workloads that must wait for nodes. Default: no explicit dependency."""


@dataclass(frozen=True, kw_only=True)
class PodPriority:
    """A PriorityClass pods name (``priorityClassName``) and the resources that create it. A pod naming a class
    that does not exist is refused at admission, so a workload using one depends on ``ready``: a class with
    nothing creating it is refused here, before any resource exists."""

    class_name: str
    ready: tuple[pulumi.Resource, ...]

    def __post_init__(self) -> None:
        if not self.class_name or not self.ready:
            raise ValueError(f"pod priority {self.class_name!r}: no resource creates this PriorityClass (ready is "
                             "empty), and a pod naming a class that does not exist is refused at admission; pass "
                             "PriorityClasses.ready, or no priority at all")


def pod_priority_fields(priority: PodPriority | None) -> dict:
    """The pod spec's ``priorityClassName`` entry, or nothing without a priority (pods keep priority 0)."""
    return {"priorityClassName": priority.class_name} if priority is not None else {}


@dataclass(frozen=True, kw_only=True)
class WeightSource:
    """Where one model's weights live in the cloud's weight cache, and how a pod gets them.

    Model servers load ``uri`` directly (vLLM's runai_streamer speaks s3:// and gs://) or sync it to local
    disk; they never pull from a hub.
    """

    uri: str
    """Object-store URI of the checkpoint's directory, e.g. ``s3://bucket/models/org/repo/<rev>``."""
    wait_container: Mapping[str, object]
    """An init container (name, image, argv, env; no shell string built from config) that exits 0 once the
    cache's completion marker exists. The model server adds its own securityContext and mounts."""
    service_account: str
    """The Kubernetes ServiceAccount that may read the cache (bound to a cloud identity by the cloud)."""
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations the ServiceAccount needs (GKE Workload Identity); EKS Pod Identity needs none."""
    env: Sequence[Mapping[str, str]] = ()
    """Extra environment for the reading container (e.g. AWS_REGION for the S3 client)."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources a reader must wait for (the seeding Job, the identity binding). A model server's Deployment
    depends on exactly these (never on the whole cache component, which Pulumi would expand to every child)."""
    egress: Sequence[object] = ()
    """NetworkPolicy rules (``strait.render.netpol.Allow``) a reader needs: the object store and the cloud's
    credentials endpoint. Default: none (the reader's policy must then allow them some other way)."""
    sync_container: Callable[[str], Mapping[str, object]] | None = None
    """``sync_container(dest_path)``: an init container (name, image, argv, env; no shell string built from
    config) that copies the checkpoint from the cache into ``dest_path`` on a volume the pod mounts there, for
    engines that read it from local disk (vLLM's LoRA adapters). Run it after ``wait_container``. Default: the
    cloud cannot copy (readers must stream ``uri``)."""


@dataclass(frozen=True, kw_only=True)
class ObjectStore:
    """A private bucket one workload reads and writes (Langfuse's traces), reached through the cloud's
    workload identity: no access keys."""

    bucket: pulumi.Input[str]
    region: str
    service_account: str
    """The ServiceAccount bound to the bucket's identity; the workload must run as it."""
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations that ServiceAccount needs (GKE Workload Identity); EKS Pod Identity needs none."""
    endpoint: str | None = None
    """S3-compatible endpoint. Default: the cloud's own (AWS S3 in ``region``)."""
    protocol: str = "s3"
    """How a client talks to it: ``s3`` (S3 API, AWS credentials) or ``gcs`` (Cloud Storage JSON API, Google
    Application Default Credentials). Default: s3."""
    egress: Sequence[object] = ()
    """NetworkPolicy rules (``strait.render.netpol.Allow``) a client needs to reach it."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources a client must wait for (the identity binding)."""


class ObjectStoreFactory(Protocol):
    """Creates one private bucket for one workload: ``platform.object_store("langfuse", namespace=...,
    service_account=..., expire_days={"events/": 30})``. The cloud names the bucket from ``purpose``."""

    def __call__(self, purpose: str, *, namespace: str, service_account: str,
                 expire_days: Mapping[str, int] | None = None, force_destroy: bool = False,
                 opts: pulumi.ResourceOptions | None = None) -> ObjectStore: ...


@dataclass(frozen=True, kw_only=True)
class Database:
    """A private managed Postgres database for one workload (the gateway's teams, keys and spend), reached
    only from the cluster, over TLS, with a generated password."""

    host: pulumi.Input[str]
    """Private address (RDS endpoint name on AWS, the Cloud SQL private IP on GCP)."""
    port: int
    name: str
    """Database name."""
    user: str
    password: pulumi.Output[str]
    """Secret: generated by the random provider, encrypted in Pulumi's state, never in a manifest."""
    url: pulumi.Output[str]
    """Secret ``postgresql://user:password@host:port/name?sslmode=require``: hand it to a Kubernetes Secret
    (the gateway's ``database_url``), never to a ConfigMap or an argv."""
    egress: Sequence[object] = ()
    """NetworkPolicy rules (``strait.render.netpol.Allow``) a client needs to reach it (Postgres port only)."""
    ready: Sequence[pulumi.Resource] = ()
    """Resources a client must wait for (the database and its user)."""


POSTGRES_PORT = 5432
#: Generated database passwords: alphanumeric, so they need no escaping in a URL and avoid the characters
#: RDS refuses ('/', '@', '"', ' '); 40 characters of 62 symbols is about 238 bits.
DATABASE_PASSWORD_LENGTH = 40


def postgres_url(user: str, password: pulumi.Input[str], host: pulumi.Input[str], port: int, db: str) -> pulumi.Output[str]:
    """The secret URL a client (LiteLLM's Prisma) reads from DATABASE_URL; TLS required."""
    from urllib.parse import quote

    return pulumi.Output.secret(pulumi.Output.concat(
        "postgresql://", quote(user, safe=""), ":", pulumi.Output.from_input(password).apply(lambda p: quote(p, safe="")),
        "@", host, ":", str(port), "/", quote(db, safe=""), "?sslmode=require"))


class DatabaseFactory(Protocol):
    """Creates one private Postgres for one workload: ``platform.database("litellm", storage_gib=20)``. The cloud
    names the instance from ``purpose``; ``high_availability`` adds a standby in a second zone."""

    def __call__(self, purpose: str, *, storage_gib: int = 20, high_availability: bool = False,
                 backup_retention_days: int = 7, deletion_protection: bool = True,
                 opts: pulumi.ResourceOptions | None = None) -> Database: ...


class IdentityBinder(Protocol):
    """Binds a Kubernetes ServiceAccount to a cloud identity the cloud component owns.

    ``identity`` is the cloud's identity: an IAM role ARN on EKS (Pod Identity), a Google service account's
    e-mail on GKE (Workload Identity). Returns the annotations the ServiceAccount must carry (none on EKS; the
    e-mail on GKE).
    """

    def __call__(self, name: str, *, namespace: str, service_account: str, identity: pulumi.Input[str],
                 opts: pulumi.ResourceOptions | None = None) -> Mapping[str, str]: ...


@dataclass(frozen=True, kw_only=True)
class Platform:
    """Everything a blueprint's Kubernetes layer needs from a cloud."""

    cloud: str
    """'aws' or 'gcp'."""
    region: str
    k8s_provider: pulumi.ProviderResource
    cluster_name: pulumi.Input[str]
    gpu_pools: Mapping[str, GpuPool]
    weights: Mapping[str, WeightSource]
    """Keyed by the stack's model key."""
    storage_class: str
    """Block-storage class for PVCs (gp3 on EKS, premium-rwo on GKE)."""
    bind_identity: IdentityBinder
    object_store: ObjectStoreFactory | None = None
    """Makes private buckets for workloads (Langfuse). Default: the cloud offers none."""
    database: DatabaseFactory | None = None
    """Makes a private managed Postgres for a workload (the gateway's teams and spend: RDS on AWS, Cloud SQL on
    GCP). Default: the cloud offers none."""
    namespaces: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Namespaces the platform created because its own objects live there: the serving namespace, where
    the weight cache's seeding Jobs and the readers' identities are. Keyed by namespace name."""
    allows: Mapping[str, object] = field(default_factory=dict)
    """NetworkPolicy rules (``strait.render.netpol.Allow``) only the cloud knows, by purpose, e.g.
    ``api_server_egress``, ``node_metrics_egress``, ``webhook_ingress``."""
    outputs: Mapping[str, pulumi.Input] = field(default_factory=dict)
    """Cloud-specific stack outputs (cluster name, bucket, ...)."""
    extra: Mapping[str, object] = field(default_factory=dict)
    """Cloud-specific values a blueprint may pass through untouched (e.g. an object store for Langfuse)."""
    priority: Mapping[str, PodPriority] = field(default_factory=dict)
    """PriorityClasses the platform created (components/k8s/priority.py), by role: ``serving`` for model servers
    and the gateway, ``batch`` for batch work (the seeding Jobs already use it). Default: none created, so no pod
    may name one."""


PlatformBuilder = Callable[..., Platform]
"""A cloud's builder: ``build_aws_platform(args, ctx, cat, opts=None)``, ``build_gcp_platform(...)``. A blueprint
maps its config to the cloud's typed args in one place and picks the builder from a dict keyed by ``cfg.cloud``."""
