"""Phase 1 MVP: one Kubernetes cluster with GPU pools, vLLM model servers fed from the cloud's weight cache,
and a LiteLLM gateway that falls back to commercial APIs.

The cloud is picked once (``platforms.PLATFORMS[cfg.cloud]``); everything after that sees only the
:class:`components.platform.Platform` it returns. Read ``README.md`` beside this file for what it builds
and what it costs.
"""
from __future__ import annotations

import dataclasses

import pulumi
import pulumi_random as random

from blueprints.loader import StackSecrets
from blueprints.phase1_mvp import observability as obs
from blueprints.phase1_mvp.config import Phase1Config
from blueprints.phase1_mvp.platforms import PLATFORMS
from components.context import StackContext
from components.k8s.litellm_gateway import LiteLLMGateway, LiteLLMGatewayArgs
from components.k8s.model_server import size_for_pool
from components.k8s.namespace import namespace
from components.k8s.sglang_service import SglangService, SglangServiceArgs
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from components.platform import Platform
from strait.catalog import Catalog, load_catalog
from strait.config import PROVIDER_SECRET
from strait.engines import adapter_cache_key, adapter_gib, draft_cache_key, draft_gpu_gib, sglang_spec, vllm_spec
from strait.gateway.capacity import gateway_scaling
from strait.gateway.spec import gateway_spec
from strait.render.litellm import PROVIDER_KEY_ENV, key_env_for
from strait.render.netpol import Allow, cidr_peer, public_https, tcp
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


def local_artefacts(key: str, m, cat: Catalog, platform: Platform) -> dict:
    """VllmServiceArgs' ``adapters`` and ``draft`` for model ``key``: the weight sources the cache built for its
    LoRA adapters (synced into the pod) and its draft model (streamed), seeded like the model itself."""
    arch = cat.models[m.model]
    draft = platform.weights.get(draft_cache_key(key))
    return {"adapters": {n: (platform.weights[adapter_cache_key(key, n)], adapter_gib(arch, a.rank))
                         for n, a in sorted(m.adapters.items())},
            "draft": draft}


def model_servers(cfg: Phase1Config, cat: Catalog, platform: Platform, random_opts: pulumi.ResourceOptions,
                  k8s_opts: pulumi.ResourceOptions) -> tuple[dict[str, VllmService | SglangService], dict]:
    """One model server per model (vLLM or SGLang, same pod), on its pool, reading the cloud's weight source;
    and each one's API key."""
    servers: dict[str, VllmService | SglangService] = {}
    api_keys: dict[str, pulumi.Output[str]] = {}
    in_serving = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
        depends_on=[platform.namespaces[SERVING_NS]]))
    for key, m in sorted(cfg.models.items()):
        pool, weights = platform.gpu_pools[m.pool], platform.weights[key]
        pw = random.RandomPassword(f"{key}-api-key", length=48, special=False, opts=random_opts)
        api_keys[key] = pulumi.Output.secret(pw.result)
        common = dict(namespace=SERVING_NS, image=cat.image(m.engine), engine_version=cat.images[m.engine].version,
                      api_key=api_keys[key], pool=m.pool, gpu_model=pool.gpu_model, replicas=m.replicas,
                      gpus_per_replica=m.tensor_parallel_size, weights=weights, client_namespaces=(GATEWAY_NS,),
                      sizing=size_for_pool(pool, replicas=m.replicas, startup_timeout_seconds=m.startup_timeout_seconds,
                                           weights_gib_per_gpu=cat.variant(m.model, m.quantization).weights_gib
                                           / m.tensor_parallel_size + draft_gpu_gib(m, cat)))  # a draft streams too
        if m.engine == "sglang":
            servers[key] = SglangService(key, SglangServiceArgs(spec=sglang_spec(key, m, cat, weights.uri),
                                                                shutdown_timeout_seconds=m.shutdown_timeout_seconds,
                                                                **common), opts=in_serving)
        else:
            local = local_artefacts(key, m, cat, platform)
            spec = vllm_spec(key, m, cat, weights.uri, local["draft"].uri if local["draft"] else None)
            servers[key] = VllmService(key, VllmServiceArgs(spec=spec, **local, **common), opts=in_serving)
    return servers, api_keys


def build(cfg: Phase1Config, secrets: StackSecrets) -> dict[str, pulumi.Input]:
    cat = load_catalog()
    # A model that leaves max_num_seqs unset gets the KV planner's value (strait.sizing.resolve_max_num_seqs):
    # the vLLM argv and the gateway's overflow sizing below both read this resolved copy.
    cfg = cfg.model_copy(update={"models": {key: m.model_copy(update={"max_num_seqs": resolve_max_num_seqs(
        m, cat, cat.instance_types[cfg.gpu_pools[m.pool].instance_types[0]].gpu)}) for key, m in cfg.models.items()}})
    ctx = StackContext(project=pulumi.get_project(), stack=pulumi.get_stack(), blueprint=BLUEPRINT,
                       cost_center=cfg.cost_center, user_tags=cfg.tags)
    platform = PLATFORMS[cfg.cloud](cfg, ctx, cat, secrets, serving_namespace=SERVING_NS)

    random_opts = pulumi.ResourceOptions(provider=random.Provider("random"))
    k8s_opts = pulumi.ResourceOptions(providers={"kubernetes": platform.k8s_provider})
    gateway_ns = namespace(GATEWAY_NS, "ns-gateway", k8s_opts)
    servers, api_keys = model_servers(cfg, cat, platform, random_opts, k8s_opts)

    gw_spec = gateway_spec(cfg.gateway, cfg.models, {mk: servers[mk].url for mk in cfg.models})
    used_models = sorted({mk for t in cfg.gateway.tiers.values() for mk in t.models})
    used_providers = sorted({p.provider for t in cfg.gateway.tiers.values() for p in t.providers})
    secret_env = {key_env_for(mk): api_keys[mk] for mk in used_models}
    secret_env.update({PROVIDER_KEY_ENV[p]: secrets.get(PROVIDER_SECRET[p]) for p in used_providers})
    # Observability (blueprints/phase1_mvp/observability.py): Langfuse first, its keys go to the gateway.
    obs_opts = pulumi.ResourceOptions(providers={"kubernetes": platform.k8s_provider, "random": random_opts.provider})
    tracing = obs.build_tracing(cfg, secrets, platform, obs_opts)
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
    gateway = LiteLLMGateway("litellm", LiteLLMGatewayArgs(
        namespace=GATEWAY_NS, spec=gw_spec, image=cat.image("litellm"), version=cat.images["litellm"].version,
        master_key=master_key, secret_env=secret_env, replicas=cfg.gateway.replicas, scaling=gateway_scaling(cfg.gateway),
        cpu_request=cfg.gateway.cpu_request, memory_request=cfg.gateway.memory_request,
        memory_limit=cfg.gateway.memory_limit, redis_image=cat.image("valkey") if redis_password is not None else None,
        redis_password=redis_password,
        database_url=secrets.get("litellm_database_url") if cfg.gateway.spend_tracking else None,
        client_namespaces=tuple(cfg.gateway.client_namespaces),
        egress=gateway_egress(cfg, [s.client_egress for _, s in sorted(servers.items())], tracing)),
        opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[gateway_ns])))
    monitoring = obs.build_monitoring(cfg, cat, serving_ns=SERVING_NS, gateway_ns=GATEWAY_NS, gateway_name="litellm",
                                      platform=platform, opts=obs_opts)

    return {
        **platform.outputs,
        "gateway_url": gateway.url,
        "litellm_master_key": pulumi.Output.secret(master_key),
        "model_urls": {k: s.url for k, s in servers.items()},
        **({"grafana": f"kubectl -n {monitoring.namespace} port-forward svc/{monitoring.grafana_service} 3000:80"}
           if monitoring else {}),
    }
