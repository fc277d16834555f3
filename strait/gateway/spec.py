"""Stack config -> GatewaySpec: the pure half of the blueprint's gateway wiring.

Overflow sizing lives here: each self-hosted deployment gets ``max_parallel_requests`` from the
model's replicas x max_num_seqs (see ``max_parallel_for``), so a gateway replica stops sending new
requests to a tier whose vLLM queue is already a batch deep and they overflow to the fallbacks.
"""
from __future__ import annotations

from collections.abc import Mapping

from strait.config.sections import GatewayConfig, ModelConfig
from strait.gateway.overflow import metrics_url_for
from strait.render.litellm import (
    GatewaySpec,
    Overflow,
    ProviderModel,
    RetryPolicy,
    Routing,
    SelfHostedEndpoint,
    Tier,
    key_env_for,
    max_parallel_for,
)


def gateway_spec(gw: GatewayConfig, models: Mapping[str, ModelConfig], urls: Mapping[str, str],
                 callbacks: tuple[str, ...] = (), metrics_urls: Mapping[str, str] | None = None) -> GatewaySpec:
    """``urls``: model key -> its in-cluster OpenAI base URL (ending in /v1). ``metrics_urls``: model key -> the
    engine's own /metrics, for queue-aware overflow. Default: /metrics beside the API (vLLM and SGLang serve both
    on one port); a model behind a router must name its engines' Service here, not the router."""
    tiers: dict[str, Tier] = {}
    for tname, t in sorted(gw.tiers.items()):
        hosted = tuple(SelfHostedEndpoint(
            served_model_name=models[mk].served_model_name or mk, api_base=urls[mk], api_key_env=key_env_for(mk),
            key=mk, max_model_len=models[mk].max_model_len, weight=t.weight * models[mk].replicas,
            max_parallel_requests=max_parallel_for(models[mk].replicas, models[mk].max_num_seqs, gw.replicas,
                                                   gw.overflow_queue_factor)) for mk in t.models)
        providers = tuple(ProviderModel(provider=p.provider, model=p.model, weight=p.weight, rpm=p.rpm, tpm=p.tpm,
                                        max_input_tokens=p.max_input_tokens) for p in t.providers)
        tiers[tname] = Tier(self_hosted=hosted, providers=providers, fallbacks=tuple(t.fallbacks),
                            context_window_fallbacks=tuple(t.context_window_fallbacks), timeout_seconds=t.timeout_seconds,
                            stream_timeout_seconds=t.stream_timeout_seconds, max_input_tokens=t.max_input_tokens,
                            overflow=_overflow(gw, tname, urls, metrics_urls or {}))
    tiers.update(adapter_tiers(gw, models, urls))
    rp = gw.retry_policy
    routing = None
    if gw.routing is not None:
        r = gw.routing
        routing = Routing(ladder=tuple(r.ladder), auto_model=r.auto_model, long_context_tier=r.long_context_tier,
                          long_prompt_tokens=r.long_prompt_tokens, many_tools=r.many_tools,
                          large_max_tokens=r.large_max_tokens,
                          reasoning_cues=tuple(r.reasoning_cues) if r.reasoning_cues is not None else None,
                          reasoning_cue_weight=r.reasoning_cue_weight, chars_per_token=r.chars_per_token,
                          default_completion_tokens=r.default_completion_tokens)
    return GatewaySpec(
        tiers=tiers, num_retries=gw.num_retries, allowed_fails=gw.allowed_fails, cooldown_seconds=gw.cooldown_seconds,
        callbacks=callbacks, routing=routing, metrics_require_auth=gw.metrics_require_auth,
        request_deadline_seconds=gw.request_deadline_seconds,
        retry_policy=RetryPolicy(timeout=rp.timeout, rate_limit=rp.rate_limit, internal_server_error=rp.internal_server_error,
                                 service_unavailable=rp.service_unavailable, default=rp.default))


def _overflow(gw: GatewayConfig, tier: str, urls: Mapping[str, str], metrics_urls: Mapping[str, str]) -> Overflow | None:
    t, to = gw.tiers[tier], gw.overflow_target(tier)
    if t.overflow_queue_depth is None or to is None:
        return None
    return Overflow(to=to, queue_depth=t.overflow_queue_depth,
                    metrics_urls=tuple(metrics_urls.get(mk) or metrics_url_for(urls[mk]) for mk in t.models),
                    metrics_key_envs=tuple(key_env_for(mk) for mk in t.models))


def adapter_tiers(gw: GatewayConfig, models: Mapping[str, ModelConfig], urls: Mapping[str, str]) -> dict[str, Tier]:
    """Each LoRA adapter is a model name of its own, routed to its base model's servers with the adapter's name
    as ``model`` (vLLM serves every ``--lora-modules`` name). Same key, window and overflow limit as the base;
    the tier timeout of the first tier serving the base model; no fallbacks: another model is not the adapter."""
    out: dict[str, Tier] = {}
    for mk, m in sorted(models.items()):
        if not m.adapters:
            continue
        timeout = next((t.timeout_seconds for _, t in sorted(gw.tiers.items()) if mk in t.models), 60)
        for name in sorted(m.adapters):
            out[name] = Tier(self_hosted=(SelfHostedEndpoint(
                served_model_name=name, api_base=urls[mk], api_key_env=key_env_for(mk), max_model_len=m.max_model_len,
                max_parallel_requests=max_parallel_for(m.replicas, m.max_num_seqs or 1, gw.replicas,
                                                       gw.overflow_queue_factor)),), timeout_seconds=timeout)
    return out

