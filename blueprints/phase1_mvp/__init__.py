"""Phase 1 MVP: one EKS cluster, GPU pools, vLLM model servers fed from an S3 weight cache, and a LiteLLM gateway.

Read ``README.md`` beside this file for what it builds and what it costs.
"""
from __future__ import annotations

import dataclasses
import math

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from blueprints.loader import StackSecrets
from blueprints.phase1_mvp.config import Phase1Config
from blueprints.phase1_mvp import observability as obs
from components.aws.cluster_autoscaler import ClusterAutoscaler, ClusterAutoscalerArgs
from components.aws.eks_cluster import EksCluster, EksClusterArgs
from components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.aws.network import Network, NetworkArgs
from components.aws.weight_cache import COMPLETE_MARKER, SeedSpec, WeightCache, WeightCacheArgs, model_prefix
from components.context import StackContext
from components.k8s.litellm_gateway import LiteLLMGateway, LiteLLMGatewayArgs
from components.k8s.namespace import namespace
from components.k8s.nvidia_device_plugin import NvidiaDevicePlugin, NvidiaDevicePluginArgs
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from strait.catalog import load_catalog
from strait.catalog.charts import load_charts
from strait.config import PROVIDER_SECRET
from strait.config.checks import startup_budget_seconds
from strait.engines import resolve_features
from strait.naming import eks_cluster_name, s3_bucket_name
from strait.gateway.spec import gateway_spec
from strait.gpu_labels import GPU_LABEL
from strait.render.litellm import PROVIDER_KEY_ENV, key_env_for
from strait.render.netpol import Allow, cidr_peer, public_https, tcp
from strait.render.vllm import VllmSpec
from strait.sizing import resolve_max_num_seqs

BLUEPRINT = "phase1_mvp"
SERVING_NS = "strait-serving"
GATEWAY_NS = obs.GATEWAY_NS  # Langfuse admits traces from it
POSTGRES_PORT = 5432


def gateway_egress(cfg: Phase1Config, servers: list[Allow], tracing: obs.Tracing | None) -> tuple[Allow, ...]:
    """Where the gateway may connect (NetworkPolicy): its model servers, commercial APIs on HTTPS, the trace
    collector, and its database in the VPC."""
    out = list(servers)
    if any(p for t in cfg.gateway.tiers.values() for p in t.providers):
        out.append(public_https("commercial APIs"))
    if tracing is not None:
        out.extend(tracing.egress)
    if cfg.gateway.spend_tracking:
        out.append(Allow((cidr_peer(cfg.network.cidr),), tcp(POSTGRES_PORT), "spend-tracking Postgres in the VPC"))
    return tuple(out)


def build(cfg: Phase1Config, secrets: StackSecrets) -> dict[str, pulumi.Input]:
    cat = load_catalog()
    # A model that leaves max_num_seqs unset gets the KV planner's value (strait.sizing.resolve_max_num_seqs):
    # the vLLM argv and the gateway's overflow sizing below both read this resolved copy.
    cfg = cfg.model_copy(update={"models": {key: m.model_copy(update={"max_num_seqs": resolve_max_num_seqs(
        m, cat, cat.instance_types[cfg.gpu_pools[m.pool].instance_types[0]].gpu)}) for key, m in cfg.models.items()}})
    project, stack = pulumi.get_project(), pulumi.get_stack()
    ctx = StackContext(project=project, stack=stack, blueprint=BLUEPRINT, cost_center=cfg.cost_center, user_tags=cfg.tags)
    cluster_name = eks_cluster_name(project, stack)

    aws_provider = aws.Provider("aws", region=cfg.region)
    random_opts = pulumi.ResourceOptions(provider=random.Provider("random"))
    aws_opts = pulumi.ResourceOptions(providers={"aws": aws_provider})
    zones = list(cat.regions[cfg.region].zones[: cfg.network.availability_zones])

    net = Network("net", NetworkArgs(cidr=cfg.network.cidr, availability_zones=zones, cluster_name=cluster_name,
                                     nat_gateways=cfg.network.nat_gateways, tags=ctx.tags("network")), opts=aws_opts)
    cluster = EksCluster("cluster", EksClusterArgs(
        cluster_name=cluster_name, kubernetes_version=cfg.cluster.kubernetes_version, vpc_id=net.vpc_id,
        private_subnet_ids=net.private_subnet_ids, system_instance_type=cfg.cluster.system_instance_type,
        system_nodes=cfg.cluster.system_nodes, api_public_cidrs=cfg.cluster.api_public_cidrs, vpc_cidr=cfg.network.cidr,
        tags=ctx.tags("cluster")), region=cfg.region, opts=aws_opts)
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": cluster.provider})
    both_opts = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider})

    pools: dict[str, GpuNodePool] = {}
    for pname, pool in sorted(cfg.gpu_pools.items()):
        gpu_key = cat.instance_types[pool.instance_types[0]].gpu
        pools[pname] = GpuNodePool(f"gpu-{pname}", pname, GpuNodePoolArgs(
            cluster_name=cluster.cluster_name, node_role_arn=cluster.node_role_arn, subnet_ids=net.private_subnet_ids,
            instance_types=pool.instance_types, gpu_model=gpu_key, capacity=pool.capacity, min_size=pool.min_size,
            max_size=pool.max_size, desired_size=pool.desired, disk_size_gib=pool.disk_size_gib, ami=pool.ami,
            cluster_tag_name=cluster_name, tags=ctx.tags("gpu-node-pool")), opts=aws_opts)
    if any(p.needs_device_plugin for p in pools.values()):
        pin = cat.images["nvidia-device-plugin"]
        NvidiaDevicePlugin("nvidia-device-plugin", NvidiaDevicePluginArgs(
            image=cat.image("nvidia-device-plugin"), version=pin.version), opts=k8s_opts)

    if cfg.autoscaler.enabled and pools:  # scales the pools between min_size and max_size (docs/autoscaling.md)
        ClusterAutoscaler("cluster-autoscaler", ClusterAutoscalerArgs(
            cluster_name=cluster.cluster_name, cluster_name_plain=cluster_name, region=cfg.region,
            kubernetes_version=cfg.cluster.kubernetes_version, chart=load_charts()["cluster-autoscaler"],
            node_groups={p.physical_node_group_name: p.capacity for p in pools.values()},
            scale_down_unneeded_minutes=cfg.autoscaler.scale_down_unneeded_minutes, tags=ctx.tags("autoscaler")),
            opts=pulumi.ResourceOptions.merge(both_opts, pulumi.ResourceOptions(depends_on=list(pools.values()))))

    serving_ns = namespace(SERVING_NS, "ns-serving", k8s_opts)
    gateway_ns = namespace(GATEWAY_NS, "ns-gateway", k8s_opts)
    in_serving = pulumi.ResourceOptions(depends_on=[serving_ns])

    bucket = s3_bucket_name(project, stack, cfg.region, "weights")
    seeds = {}
    for key, m in sorted(cfg.models.items()):
        variant = cat.variant(m.model, m.quantization)
        seeds[key] = SeedSpec(hf_repo=variant.hf_repo, revision=m.revision, weights_gib=variant.weights_gib)
    cache = WeightCache("weights", WeightCacheArgs(
        bucket_name=bucket, cluster_name=cluster.cluster_name, namespace=SERVING_NS,
        reader_service_accounts=sorted(cfg.models), models=seeds, seed=cfg.weight_cache.seed,
        hf_token=secrets.get("hf_token"), force_destroy=cfg.weight_cache.force_destroy,
        seeder_image=cat.image("hf-downloader"), tags=ctx.tags("weight-cache")),
        opts=pulumi.ResourceOptions.merge(both_opts, in_serving))

    vllm_pin = cat.images["vllm"]
    servers: dict[str, VllmService] = {}
    api_keys: dict[str, pulumi.Output[str]] = {}
    for key, m in sorted(cfg.models.items()):
        pool = cfg.gpu_pools[m.pool]
        smallest = min((cat.instance_types[t] for t in pool.instance_types), key=lambda it: (it.memory_gib, it.vcpu))
        variant = cat.variant(m.model, m.quantization)
        prefix = model_prefix(seeds[key])
        spec = VllmSpec(
            model=f"s3://{bucket}/{prefix}", served_model_name=m.served_model_name or key, max_model_len=m.max_model_len,
            gpu_memory_utilization=m.gpu_memory_utilization, max_num_seqs=m.max_num_seqs,
            tensor_parallel_size=m.tensor_parallel_size, quantization=variant.vllm_quantization,
            kv_cache_dtype=m.kv_cache_dtype, enable_prefix_caching=m.enable_prefix_caching,
            shutdown_timeout_seconds=m.shutdown_timeout_seconds,
            **dataclasses.asdict(resolve_features(cat.models[m.model], "vllm", tool_calling=m.tool_calling,
                                                  reasoning=m.reasoning)))
        pw = random.RandomPassword(f"{key}-api-key", length=48, special=False, opts=random_opts)
        api_keys[key] = pulumi.Output.secret(pw.result)
        weights_per_gpu = variant.weights_gib / m.tensor_parallel_size
        servers[key] = VllmService(key, VllmServiceArgs(
            namespace=SERVING_NS, spec=spec, image=cat.image("vllm"), engine_version=vllm_pin.version,
            api_key=api_keys[key], pool=m.pool, gpu_model=pools[m.pool].labels[GPU_LABEL],
            gpus_per_replica=m.tensor_parallel_size, replicas=m.replicas,
            cpu_request=max(1, math.floor(smallest.vcpu * 0.75)), memory_request_gib=max(8, math.floor(smallest.memory_gib * 0.75)),
            startup_timeout_seconds=m.startup_timeout_seconds or startup_budget_seconds(weights_per_gpu),
            weights_ready_uri=f"s3://{bucket}/{prefix}/{COMPLETE_MARKER}", wait_image=cat.image("aws-cli"),
            aws_region=cfg.region, max_surge=1 if pool.max_size > m.replicas else 0, client_namespaces=(GATEWAY_NS,),
            egress=cache.reader_egress),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[serving_ns, cache])))

    gw_spec = gateway_spec(cfg.gateway, cfg.models, {mk: servers[mk].url for mk in cfg.models})
    used_models = sorted({mk for t in cfg.gateway.tiers.values() for mk in t.models})
    used_providers = sorted({p.provider for t in cfg.gateway.tiers.values() for p in t.providers})
    secret_env = {key_env_for(mk): api_keys[mk] for mk in used_models}
    secret_env.update({PROVIDER_KEY_ENV[p]: secrets.get(PROVIDER_SECRET[p]) for p in used_providers})
    # Observability (blueprints/phase1_mvp/observability.py): Langfuse first, its keys go to the gateway.
    obs_opts = pulumi.ResourceOptions(providers={"aws": aws_provider, "kubernetes": cluster.provider,
                                                 "random": random_opts.provider})
    tracing = obs.build_tracing(cfg, secrets, ctx, cluster.cluster_name, obs_opts)
    if tracing is not None:
        gw_spec = dataclasses.replace(gw_spec, callbacks=(*gw_spec.callbacks, tracing.callback))
        secret_env.update(tracing.env)
    master_key = secrets.get("litellm_master_key")
    if master_key is None:
        master_key = pulumi.Output.concat("sk-", random.RandomPassword("litellm-master-key", length=48, special=False,
                                                                     opts=random_opts).result)
    redis_password = None
    if cfg.gateway.replicas > 1:  # shared router state: cooldowns must hold across replicas
        redis_password = pulumi.Output.secret(random.RandomPassword("litellm-redis-password", length=40, special=False,
                                                                    opts=random_opts).result)
    lite_pin = cat.images["litellm"]
    gateway = LiteLLMGateway("litellm", LiteLLMGatewayArgs(
        namespace=GATEWAY_NS, spec=gw_spec,
        image=cat.image("litellm"), version=lite_pin.version, master_key=master_key, secret_env=secret_env,
        replicas=cfg.gateway.replicas, cpu_request=cfg.gateway.cpu_request, memory_request=cfg.gateway.memory_request,
        memory_limit=cfg.gateway.memory_limit, redis_image=cat.image("valkey") if redis_password is not None else None,
        redis_password=redis_password,
        database_url=secrets.get("litellm_database_url") if cfg.gateway.spend_tracking else None,
        client_namespaces=tuple(cfg.gateway.client_namespaces),
        egress=gateway_egress(cfg, [s.client_egress for _, s in sorted(servers.items())], tracing)),
        opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[gateway_ns])))
    monitoring = obs.build_monitoring(cfg, cat, serving_ns=SERVING_NS, gateway_ns=GATEWAY_NS, gateway_name="litellm",
                                      has_gpu_nodes=bool(pools), cluster=cluster, opts=obs_opts)

    return {
        "cluster_name": cluster.cluster_name,
        "gateway_url": gateway.url,
        "litellm_master_key": pulumi.Output.secret(master_key),
        "model_urls": {k: s.url for k, s in servers.items()},
        "weight_bucket": cache.bucket_name,
        **({"grafana": f"kubectl -n {monitoring.namespace} port-forward svc/{monitoring.grafana_service} 3000:80"}
           if monitoring else {}),
    }
