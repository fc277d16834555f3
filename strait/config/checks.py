"""Cross-field checks against the catalog. Each returns every issue it finds, never the first only."""
from __future__ import annotations

import difflib
from typing import Protocol

from strait.catalog import Catalog
from strait.config.errors import ConfigIssue
from strait.config.multinode import check_multinode, check_pool_reservation
from strait.config.sections import ClusterConfig, GatewayConfig, GpuPoolConfig, ModelConfig
from strait import sizing

#: Startup probe default: this much plus STARTUP_SECONDS_PER_GIB per GiB of weights a GPU loads.
STARTUP_BASE_SECONDS = 300
STARTUP_SECONDS_PER_GIB = 20


class PlatformConfig(Protocol):
    cloud: str
    region: str
    cluster: ClusterConfig
    gpu_pools: dict[str, GpuPoolConfig]
    models: dict[str, ModelConfig]
    gateway: GatewayConfig


def _did_you_mean(value: str, options: list[str]) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    return f"did you mean '{close[0]}'? " if close else ""


def check_platform(cfg: PlatformConfig, cat: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    add = issues.append

    region = cat.regions.get(cfg.region)
    region_ok = region is not None and region.cloud == cfg.cloud
    if not region_ok:
        options = sorted(k for k, r in cat.regions.items() if r.cloud == cfg.cloud)
        add(ConfigIssue("region", cfg.region, f"not {'a' if cfg.cloud == 'gcp' else 'an'} {cfg.cloud.upper()} region in the catalog",
                        f"{_did_you_mean(cfg.region, options)}use one of: {', '.join(options)}"))

    k8s = cfg.cluster.kubernetes_version
    versions, service = (cat.gke_versions, "a GKE") if cfg.cloud == "gcp" else (cat.kubernetes_versions, "an EKS")
    if k8s not in versions:
        add(ConfigIssue("cluster.kubernetes_version", k8s, f"not {service} version in the catalog",
                        f"use one of: {', '.join(sorted(versions))}"))
    if region_ok:  # offers are per region; without one, instance checks would only repeat the region error
        issues += _check_instance("cluster.system_instance_type", cfg.cluster.system_instance_type, cfg.region, cat, gpu=False)

    for pname, pool in cfg.gpu_pools.items():
        path = f"gpu_pools.{pname}"
        gpus = set()
        for i, it in enumerate(pool.instance_types):
            if not region_ok:
                continue
            found = _check_instance(f"{path}.instance_types[{i}]", it, cfg.region, cat, gpu=True)
            issues += found
            if not found:
                spec = cat.instance_types[it]
                gpus.add((spec.gpu, spec.gpu_count))
        if len(gpus) > 1:
            desc = ", ".join(f"{n}x {g}" for g, n in sorted(gpus))
            add(ConfigIssue(f"{path}.instance_types", pool.instance_types,
                            f"mixes GPU shapes ({desc}); pods sized for one would not fit the other",
                            "list only types with the same GPU model and count, or split them into two pools"))
        if not pool.min_size <= pool.desired <= pool.max_size:
            add(ConfigIssue(path, {"min_size": pool.min_size, "desired_size": pool.desired_size, "max_size": pool.max_size},
                            "sizes must satisfy min_size <= desired_size <= max_size", "adjust the three sizes"))
        issues += check_pool_reservation(path, pool, cfg.cloud)

    for mname, m in cfg.models.items():
        issues += _check_model(f"models.{mname}", m, cfg, cat, region_ok)

    issues += _check_gateway(cfg, cat)
    return issues


def _check_instance(path: str, it: str, region: str, cat: Catalog, *, gpu: bool) -> list[ConfigIssue]:
    spec = cat.instance_types.get(it)
    offered = cat.offered_in(region, gpu=gpu)
    if spec is None:
        return [ConfigIssue(path, it, "unknown instance type",
                            f"{_did_you_mean(it, offered)}use one the catalog offers in {region}: {', '.join(offered)}")]
    if gpu and spec.gpu is None:
        return [ConfigIssue(path, it, "has no GPU", f"use a GPU type offered in {region}: {', '.join(offered)}")]
    if region not in spec.regions:
        return [ConfigIssue(path, it, f"not offered in {region} according to the catalog",
                            f"use one offered there: {', '.join(offered) or '(none)'}; or pick another region")]
    return []


def startup_budget_seconds(weights_per_gpu_gib: float) -> int:
    return int(STARTUP_BASE_SECONDS + STARTUP_SECONDS_PER_GIB * weights_per_gpu_gib)


def _check_model(path: str, m: ModelConfig, cfg: PlatformConfig, cat: Catalog, region_ok: bool) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    add = issues.append
    arch = cat.models.get(m.model)
    if arch is None:
        opts = sorted(cat.models)
        add(ConfigIssue(f"{path}.model", m.model, "unknown model",
                        f"{_did_you_mean(m.model, opts)}use a catalog model: {', '.join(opts)}; or add it to strait/catalog/data/models.yaml"))
    elif m.quantization not in arch.variants:
        add(ConfigIssue(f"{path}.quantization", m.quantization, f"the catalog has no {m.quantization} checkpoint of {m.model}",
                        f"use one of: {', '.join(sorted(arch.variants))}"))
    pool = cfg.gpu_pools.get(m.pool)
    if pool is None:
        add(ConfigIssue(f"{path}.pool", m.pool, "no GPU pool has this name",
                        f"use one of: {', '.join(sorted(cfg.gpu_pools)) or '(define gpu_pools first)'}"))
    if issues or arch is None or pool is None:
        return issues
    from strait.engines import (check_adapters, check_features, check_speculative, draft_kv_bytes_per_token,
                                extra_gpu_gib, memory_fraction)  # serving engines (issue 9)

    issues += check_features(path, m.model, arch, m.engine, tool_calling=m.tool_calling, reasoning=m.reasoning)
    issues += check_adapters(path, path.rsplit(".", 1)[-1], m, cfg)
    issues += check_speculative(path, m, arch, cat)
    if m.mem_fraction_static is not None and m.engine != "sglang":
        add(ConfigIssue(f"{path}.mem_fraction_static", m.mem_fraction_static, "is SGLang's setting but this model "
                        f"runs on {m.engine}", "remove it and use gpu_memory_utilization, or set engine: sglang"))
    if arch.native_context < m.max_model_len:
        add(ConfigIssue(f"{path}.max_model_len", m.max_model_len,
                        f"exceeds the native context of {m.model} ({arch.native_context} tokens)",
                        f"set max_model_len to {arch.native_context} or less"))
    if arch.num_attention_heads % m.tensor_parallel_size:
        add(ConfigIssue(f"{path}.tensor_parallel_size", m.tensor_parallel_size,
                        f"{m.model} has {arch.num_attention_heads} attention heads, which do not split evenly",
                        "use a tensor parallelism that divides the head count"))
    if not region_ok:
        return issues
    # the pool's shape; instance problems were reported already
    shapes = {(cat.instance_types[t].gpu, cat.instance_types[t].gpu_count) for t in pool.instance_types
              if t in cat.instance_types and cat.instance_types[t].gpu and cfg.region in cat.instance_types[t].regions}
    if len(shapes) != 1:
        return issues
    (gpu_key, gpus_per_node), = shapes
    if m.tensor_parallel_size > gpus_per_node:
        add(ConfigIssue(f"{path}.tensor_parallel_size", m.tensor_parallel_size,
                        f"pool '{m.pool}' has {gpus_per_node} GPU(s) per node",
                        f"use tensor_parallel_size <= {gpus_per_node}, or a pool with more GPUs per node"))
        return issues
    issues += check_multinode(path, m, m.pool, pool, arch.num_layers, gpus_per_node)
    gpu = cat.gpus[gpu_key]
    if m.kv_cache_dtype == "fp8" and not gpu.fp8:
        add(ConfigIssue(f"{path}.kv_cache_dtype", "fp8", f"{gpu_key} has no FP8 support",
                        "use kv_cache_dtype: auto, or an Ada/Hopper GPU"))
    variant = arch.variants[m.quantization]
    plan = sizing.plan_server(m.engine, arch, variant.weights_gib, gpu.memory_gib, memory_fraction=memory_fraction(m),
                              tp=m.tensor_parallel_size, pp=m.nodes, kv_cache_dtype=m.kv_cache_dtype,
                              max_model_len=m.max_model_len, gpu_name=gpu_key, extra_gib=extra_gpu_gib(m, arch),
                              extra_bytes_per_token=draft_kv_bytes_per_token(m))
    if not plan.weights_fit:
        smaller = sorted(q for q, v in arch.variants.items() if v.weights_gib < variant.weights_gib)
        fix = f"use a smaller checkpoint ({', '.join(smaller)}), " if smaller else ""
        more_tp = [t for t in (2, 4, 8) if t > m.tensor_parallel_size and t <= gpus_per_node]
        fix += f"raise tensor_parallel_size (to {more_tp[-1]} on this pool), " if more_tp else ""
        add(ConfigIssue(f"{path}.quantization", m.quantization,
                        f"{variant.weights_gib:.1f} GiB of weights over {m.tensor_parallel_size} GPU(s) leave no room on a "
                        f"{gpu_key} ({gpu.memory_gib} GiB x {memory_fraction(m)} = {plan.requested_gib:.1f} GiB usable, "
                        f"{plan.weights_gib:.1f} GiB weights + {plan.activation_gib + plan.overhead_gib:.1f} GiB runtime per GPU)",
                        f"{fix}or use a pool whose GPUs have more memory"))
    elif not plan.one_sequence_fits:
        add(ConfigIssue(f"{path}.max_model_len", m.max_model_len,
                        f"one sequence of this length needs {m.max_model_len * plan.bytes_per_token / sizing.GIB:.2f} GiB of KV cache "
                        f"but only {plan.available_kv_gib:.2f} GiB ({plan.kv_tokens} tokens) is left on a {gpu_key}",
                        f"set max_model_len to {plan.kv_tokens} or less, use kv_cache_dtype: fp8, or raise tensor_parallel_size"))
    replicas_per_node = 1  # each replica on its own node (required anti-affinity)
    if m.replicas > pool.max_size * replicas_per_node:
        add(ConfigIssue(f"{path}.replicas", m.replicas,
                        f"each replica needs its own node but pool '{m.pool}' has max_size {pool.max_size}",
                        f"raise gpu_pools.{m.pool}.max_size to at least {m.replicas}, or lower replicas"))
    return issues


def _check_gateway(cfg: PlatformConfig, cat: Catalog) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    tiers = cfg.gateway.tiers
    for tname, tier in tiers.items():
        path = f"gateway.tiers.{tname}"
        if not tier.models and not tier.providers:
            issues.append(ConfigIssue(path, {}, "a tier needs at least one deployment", "list self-hosted `models` or commercial `providers`"))
        for i, mk in enumerate(tier.models):
            if mk not in cfg.models:
                issues.append(ConfigIssue(f"{path}.models[{i}]", mk, "no model has this name",
                                          f"use one of: {', '.join(sorted(cfg.models))}"))
        for i, fb in enumerate(tier.fallbacks):
            if fb not in tiers or fb == tname:
                issues.append(ConfigIssue(f"{path}.fallbacks[{i}]", fb, "not another tier of this gateway",
                                          f"use one of: {', '.join(sorted(t for t in tiers if t != tname)) or '(add a second tier)'}"))
    for mk in cfg.models:
        if mk in tiers:
            issues.append(ConfigIssue(f"gateway.tiers.{mk}", mk, "a tier and a model share this name, so clients could not tell them apart",
                                      "rename the tier or the model"))
    from strait.gateway.checks import check_gateway_routing  # the gateway owns its routing rules

    issues += check_gateway_routing(cfg.gateway, frozenset(cfg.models))
    return issues
