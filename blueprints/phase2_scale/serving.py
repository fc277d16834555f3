"""Model servers of the phase-2 blueprint: one per model (vLLM or SGLang, same pod), on its pool, reading the
cloud's weight source; under a KEDA QueueAutoscaler when the stack autoscales it (the HPA owns its replicas), and
spot-first over its spot pool and an on-demand pool of the same GPU when the stack gives one. A server that can
run more than one replica (replicas > 1, or an autoscaler's max_replicas > 1) gets a vLLM router in front of it
(docs/routing.md): the gateway calls the router, which keeps each x-session-id on one replica."""
from __future__ import annotations

import pulumi
import pulumi_random as random

from blueprints.phase2_scale.config import Phase2Config
from blueprints.shared.artefacts import local_artefacts
from components.k8s.keda import Keda, QueueAutoscaler, autoscaler_args, replicas_owned_by_autoscaler
from components.k8s.model_server import server_selector, size_for_pool
from components.k8s.observability.monitoring import ScrapeTarget
from components.k8s.sglang_service import SglangService, SglangServiceArgs
from components.k8s.spot_fallback import spot_first
from components.k8s.vllm_router import VllmRouter, VllmRouterArgs
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from components.platform import Platform
from strait.catalog import Catalog
from strait.config.sections import ModelConfig, RouterConfig
from strait.engines import sglang_spec, vllm_spec
from strait.render.alerts import AutoscaledModel
from strait.render.litellm import GatewaySpec
from strait.render.router import RouterPolicy

Server = VllmService | SglangService


def router_config(cfg: Phase2Config, key: str, m: ModelConfig) -> RouterConfig | None:
    """The router in front of model ``key``: the stack's ``router`` block, else the defaults when the server can
    run more than one replica (a Service would spread sessions over them); none for a single replica."""
    scaled = cfg.queue_autoscaling.models.get(key)
    if m.router is not None or (scaled.max_replicas if scaled else m.replicas) > 1:
        return m.router or RouterConfig()
    return None


def router_scrape_targets(serving_ns: str, routers: dict[str, VllmRouter]) -> list[ScrapeTarget]:
    """The routers' /metrics (port ``metrics``) for the monitoring stack, which then creates their ServiceMonitor
    and lets Prometheus out to that port (a router's own ServiceMonitor would not open Prometheus's egress)."""
    return [ScrapeTarget(name="vllm-routers", namespace=serving_ns, port="metrics",
                         match_labels={"app.kubernetes.io/name": "vllm-router"})] if routers else []


def routed_tiers(spec: GatewaySpec, routers: dict[str, VllmRouter]) -> tuple[str, ...]:
    """Tiers (LoRA adapters' too) with an endpoint behind a router: the gateway forwards their clients' x-*
    headers (x-session-id) upstream."""
    urls = {r.url for r in routers.values()}
    return tuple(sorted(t for t, tier in spec.tiers.items() if any(e.api_base in urls for e in tier.self_hosted)))


def model_servers(cfg: Phase2Config, cat: Catalog, platform: Platform, keda: Keda, *, serving_ns: str,
                  client_namespaces: tuple[str, ...], random_opts: pulumi.ResourceOptions,
                  k8s_opts: pulumi.ResourceOptions
                  ) -> tuple[dict[str, Server], dict[str, pulumi.Output[str]], tuple[AutoscaledModel, ...],
                             dict[str, VllmRouter]]:
    """The servers, each one's API key, the autoscaled ones for the scaling alerts, and the routers by model key
    (the gateway's api_base for those models). An autoscaled server starts at its warm standby (min_replicas)."""
    servers: dict[str, Server] = {}
    routers: dict[str, VllmRouter] = {}
    autoscaled: list[AutoscaledModel] = []
    api_keys: dict[str, pulumi.Output[str]] = {}
    in_serving = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
        depends_on=[platform.namespaces[serving_ns]]))
    for key, m in sorted(cfg.models.items()):
        pool, weights = platform.gpu_pools[m.pool], platform.weights[key]
        scaled = cfg.queue_autoscaling.models.get(key)
        replicas = scaled.min_replicas if scaled else m.replicas
        fallback = cfg.on_demand_fallback.get(key)
        opts = pulumi.ResourceOptions.merge(in_serving, pulumi.ResourceOptions(
            transforms=[replicas_owned_by_autoscaler] if scaled else [],
            transformations=[spot_first([pool, platform.gpu_pools[fallback]])] if fallback else []))
        pw = random.RandomPassword(f"{key}-api-key", length=48, special=False, opts=random_opts)
        api_keys[key] = pulumi.Output.secret(pw.result)
        sizing = size_for_pool(pool, replicas=replicas, startup_timeout_seconds=m.startup_timeout_seconds,
                               weights_gib_per_gpu=cat.variant(m.model, m.quantization).weights_gib
                               / m.tensor_parallel_size)
        common = dict(namespace=serving_ns, image=cat.image(m.engine), engine_version=cat.images[m.engine].version,
                      api_key=api_keys[key], pool=m.pool, gpu_model=pool.gpu_model, replicas=replicas,
                      gpus_per_replica=m.tensor_parallel_size, weights=weights, client_namespaces=client_namespaces,
                      sizing=sizing)
        local = local_artefacts(key, m, cat, platform) if m.engine == "vllm" else {}
        spec = sglang_spec(key, m, cat, weights.uri) if m.engine == "sglang" else \
            vllm_spec(key, m, cat, weights.uri, local["draft"].uri if local["draft"] else None)
        rc = router_config(cfg, key, m)
        if rc is not None:  # built first: the server admits its pods, it discovers the server's pods by label
            routers[key] = VllmRouter(f"{key}-router", VllmRouterArgs(
                namespace=serving_ns, image=cat.image("vllm-router"), version=cat.images["vllm-router"].version,
                model_selector=server_selector(m.engine, key), model_port=spec.port, policy=RouterPolicy(rc.policy),
                replicas=rc.replicas, client_namespaces=client_namespaces, monitor=False,  # router_scrape_targets
                api_server_egress=platform.allows["api_server_egress"]), opts=in_serving)
            common["extra_ingress"] = (routers[key].upstream_ingress,)
        if m.engine == "sglang":
            servers[key] = SglangService(key, SglangServiceArgs(spec=spec, shutdown_timeout_seconds=m.shutdown_timeout_seconds,
                                                                **common), opts=opts)
        else:  # LoRA adapters synced from the cache into the pod, a draft model streamed from it
            servers[key] = VllmService(key, VllmServiceArgs(spec=spec, **local, **common), opts=opts)
        a = autoscaler_args(key, cfg.queue_autoscaling, engine=m.engine, served_model_name=m.served_model_name or key,
                            namespace=serving_ns, deployment=servers[key].service_name,
                            cold_start_seconds=sizing.startup_timeout_seconds,
                            prometheus_address=keda.prometheus_address, keda=keda)
        if a is not None:
            QueueAutoscaler(key, a, opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(
                depends_on=[servers[key]])))
            autoscaled.append(AutoscaledModel(
                key=key, served_model_name=a.served_model_name, namespace=serving_ns, max_replicas=a.max_replicas,
                queue_per_replica=a.queue_per_replica,
                scale_up_minutes=-(-(a.cold_start_seconds + a.node_provision_seconds) // 60)))
    return servers, api_keys, tuple(autoscaled), routers
