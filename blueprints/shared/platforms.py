"""The clouds a blueprint runs on: each maps the stack config to its cloud's typed args and builds the
:class:`components.platform.Platform`. The blueprint picks one, once, with ``PLATFORMS[cfg.cloud]``;
a new cloud is one more function and one more entry here, not an ``if`` in the wiring."""
from __future__ import annotations

from typing import Callable

from blueprints.loader import StackSecrets
from strait.config.checks import PlatformConfig as StackConfig
from components.aws.platform import AwsPlatformArgs, AwsPoolSpec, build_aws_platform
from components.aws.weight_cache import SeedSpec
from components.context import StackContext
from components.gcp.platform import GcpPlatformArgs, GcpPoolSpec, build_gcp_platform
from components.gcp.weight_cache import SeedSpec as GcsSeedSpec
from components.k8s.lws import WEBHOOK_PORT as LWS_WEBHOOK_PORT
from components.platform import Platform
from strait.catalog import Catalog
from strait.catalog.charts import load_charts
from strait.engines import cache_artefacts
from strait.naming import eks_cluster_name


def seed_specs(cfg: StackConfig, cat: Catalog) -> dict[str, SeedSpec]:
    """The checkpoint each model key needs in the weight cache, and each model's LoRA adapters and draft model
    (strait.engines.cache_artefacts: own keys, pinned revisions, read by the model's ServiceAccount)."""
    out = {}
    for key, m in sorted(cfg.models.items()):
        variant = cat.variant(m.model, m.quantization)
        out[key] = SeedSpec(hf_repo=variant.hf_repo, revision=m.revision, weights_gib=variant.weights_gib)
        for ck, a in cache_artefacts(key, m, cat).items():
            out[ck] = SeedSpec(hf_repo=a.hf_repo, revision=a.revision, weights_gib=a.weights_gib, reader=a.reader)
    return out


def aws_platform(cfg: StackConfig, ctx: StackContext, cat: Catalog, secrets: StackSecrets, *,
                 serving_namespace: str, priority_classes: bool = False) -> Platform:
    """EKS in ``cfg.region``: the stack's network, cluster, GPU pools and autoscaler sections. With
    ``priority_classes`` the platform also creates the strait-serving and strait-batch PriorityClasses before the
    weight cache (its seeding Jobs run at strait-batch) and hands them out as ``Platform.priority``."""
    return build_aws_platform(AwsPlatformArgs(
        region=cfg.region, cluster_name=eks_cluster_name(ctx.project, ctx.stack),
        kubernetes_version=cfg.cluster.kubernetes_version, vpc_cidr=cfg.network.cidr,
        availability_zones=tuple(cat.regions[cfg.region].zones[: cfg.network.availability_zones]),
        nat_gateways=cfg.network.nat_gateways, system_instance_type=cfg.cluster.system_instance_type,
        system_nodes=cfg.cluster.system_nodes, api_public_cidrs=tuple(cfg.cluster.api_public_cidrs),
        pools={name: AwsPoolSpec(instance_types=tuple(p.instance_types), capacity=p.capacity, min_size=p.min_size,
                                 max_size=p.max_size, desired_size=p.desired, disk_size_gib=p.disk_size_gib, ami=p.ami,
                                 reservation=p.reservation.to_reservation() if p.reservation else None)
               for name, p in sorted(cfg.gpu_pools.items())},
        serving_namespace=serving_namespace, models=seed_specs(cfg, cat),
        seeder_image=cat.image("hf-downloader"), wait_image=cat.image("aws-cli"),
        device_plugin_image=cat.image("nvidia-device-plugin"),
        device_plugin_version=cat.images["nvidia-device-plugin"].version,
        autoscaler_chart=load_charts()["cluster-autoscaler"] if cfg.autoscaler.enabled else None,
        scale_down_unneeded_minutes=cfg.autoscaler.scale_down_unneeded_minutes, seed=cfg.weight_cache.seed,
        hf_token=secrets.get("hf_token"), force_destroy=cfg.weight_cache.force_destroy,
        priority_classes=priority_classes), ctx, cat)


def gcp_platform(cfg: StackConfig, ctx: StackContext, cat: Catalog, secrets: StackSecrets, *,
                 serving_namespace: str, priority_classes: bool = False) -> Platform:
    """GKE in ``cfg.region``: the gcp section, and the cluster and GPU pool sections read as GCP machine types.
    GKE's own autoscaler scales each pool between min_size and max_size; with the autoscaler section off,
    each pool stays at its desired size."""
    g, auto = cfg.gcp, cfg.autoscaler.enabled
    return build_gcp_platform(GcpPlatformArgs(
        project=g.project, region=cfg.region, cluster_name=eks_cluster_name(ctx.project, ctx.stack),
        kubernetes_version=cfg.cluster.kubernetes_version, release_channel=g.release_channel,
        nodes_cidr=g.nodes_cidr, pods_cidr=g.pods_cidr, services_cidr=g.services_cidr, master_cidr=g.master_cidr,
        api_public_cidrs=tuple(cfg.cluster.api_public_cidrs), system_machine_type=cfg.cluster.system_instance_type,
        system_nodes=cfg.cluster.system_nodes,
        pools={name: GcpPoolSpec(machine_type=p.instance_types[0], capacity=p.capacity,
                                 min_nodes=p.min_size if auto else p.desired, max_nodes=p.max_size if auto else p.desired,
                                 disk_size_gib=p.disk_size_gib,
                                 reservation=p.reservation.to_reservation() if p.reservation else None)
               for name, p in sorted(cfg.gpu_pools.items())},
        serving_namespace=serving_namespace,
        models={k: GcsSeedSpec(hf_repo=s.hf_repo, revision=s.revision, weights_gib=s.weights_gib, reader=s.reader)
                for k, s in seed_specs(cfg, cat).items()},
        seeder_image=cat.image("hf-downloader"), wait_image=cat.image("google-cloud-cli"), seed=cfg.weight_cache.seed,
        hf_token=secrets.get("hf_token"), force_destroy=cfg.weight_cache.force_destroy,
        deletion_protection=g.deletion_protection, spot_fallback=g.spot_fallback,
        # A model across nodes runs on a LeaderWorkerSet, whose controller's webhook listens on 9443.
        webhook_ports=(LWS_WEBHOOK_PORT,) if any(m.nodes > 1 for m in cfg.models.values()) else (),
        priority_classes=priority_classes), ctx, cat)


#: ``cfg.cloud`` -> the function that builds that cloud's Platform for this blueprint.
PLATFORMS: dict[str, Callable[..., Platform]] = {"aws": aws_platform, "gcp": gcp_platform}
