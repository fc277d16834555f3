"""Model servers of the phase-2 blueprint: one per model (vLLM or SGLang, same pod), on its pool, reading the
cloud's weight source; under a KEDA QueueAutoscaler when the stack autoscales it (the HPA owns its replicas), and
spot-first over its spot pool and an on-demand pool of the same GPU when the stack gives one."""
from __future__ import annotations

import pulumi
import pulumi_random as random

from blueprints.phase2_scale.config import Phase2Config
from blueprints.shared.artefacts import local_artefacts
from components.k8s.keda import Keda, QueueAutoscaler, autoscaler_args, replicas_owned_by_autoscaler
from components.k8s.model_server import size_for_pool
from components.k8s.sglang_service import SglangService, SglangServiceArgs
from components.k8s.spot_fallback import spot_first
from components.k8s.vllm_service import VllmService, VllmServiceArgs
from components.platform import Platform
from strait.catalog import Catalog
from strait.engines import sglang_spec, vllm_spec
from strait.render.alerts import AutoscaledModel

Server = VllmService | SglangService


def model_servers(cfg: Phase2Config, cat: Catalog, platform: Platform, keda: Keda, *, serving_ns: str,
                  client_namespaces: tuple[str, ...], random_opts: pulumi.ResourceOptions,
                  k8s_opts: pulumi.ResourceOptions
                  ) -> tuple[dict[str, Server], dict[str, pulumi.Output[str]], tuple[AutoscaledModel, ...]]:
    """The servers, each one's API key, and the autoscaled ones for the scaling alerts. An autoscaled server starts
    at its warm standby (min_replicas)."""
    servers: dict[str, Server] = {}
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
        if m.engine == "sglang":
            servers[key] = SglangService(key, SglangServiceArgs(spec=sglang_spec(key, m, cat, weights.uri),
                                                                shutdown_timeout_seconds=m.shutdown_timeout_seconds,
                                                                **common), opts=opts)
        else:  # LoRA adapters synced from the cache into the pod, a draft model streamed from it
            local = local_artefacts(key, m, cat, platform)
            spec = vllm_spec(key, m, cat, weights.uri, local["draft"].uri if local["draft"] else None)
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
    return servers, api_keys, tuple(autoscaled)
