"""The LiteLLM proxy config, rendered from typed tiers.

Secrets never appear here: every key is an ``os.environ/VAR`` reference, and the variables come
from a Kubernetes Secret. Checked by a real ``litellm.Router`` in tests/render/test_litellm_router.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
PROVIDER_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "deepseek": "DEEPSEEK_API_KEY"}


@dataclass(frozen=True, kw_only=True)
class SelfHostedEndpoint:
    """An in-cluster OpenAI-compatible server (vLLM)."""

    served_model_name: str
    api_base: str  # e.g. http://qwen32b.strait-serving.svc.cluster.local:8000/v1
    api_key_env: str  # env var in the gateway pod holding the server's API key
    max_model_len: int | None = None


@dataclass(frozen=True, kw_only=True)
class ProviderModel:
    provider: str  # anthropic | openai | deepseek
    model: str


@dataclass(frozen=True, kw_only=True)
class Tier:
    self_hosted: tuple[SelfHostedEndpoint, ...] = ()
    providers: tuple[ProviderModel, ...] = ()
    fallbacks: tuple[str, ...] = ()
    timeout_seconds: float = 60


@dataclass(frozen=True, kw_only=True)
class GatewaySpec:
    tiers: dict[str, Tier]
    num_retries: int = 1
    allowed_fails: int = 1
    cooldown_seconds: int = 30
    callbacks: tuple[str, ...] = field(default=())


def key_env_for(model_key: str) -> str:
    """Env var holding the API key of the self-hosted model ``model_key``."""
    return "VLLM_API_KEY_" + model_key.upper().replace("-", "_")


def render_litellm_config(spec: GatewaySpec) -> dict:
    model_list = []
    for tname, tier in sorted(spec.tiers.items()):
        for ep in tier.self_hosted:
            params = {
                "model": f"hosted_vllm/{ep.served_model_name}",
                "api_base": ep.api_base,
                "api_key": f"os.environ/{ep.api_key_env}",
                "timeout": tier.timeout_seconds,
            }
            info = {"id": f"{tname}--{ep.served_model_name}"}
            if ep.max_model_len:
                info["max_input_tokens"] = ep.max_model_len
            model_list.append({"model_name": tname, "litellm_params": params, "model_info": info})
        for pm in tier.providers:
            model_list.append({
                "model_name": tname,
                "litellm_params": {
                    "model": f"{pm.provider}/{pm.model}",
                    "api_key": f"os.environ/{PROVIDER_KEY_ENV[pm.provider]}",
                    "timeout": tier.timeout_seconds,
                },
                "model_info": {"id": f"{tname}--{pm.provider}--{pm.model}"},
            })
    fallbacks = [{t: list(tier.fallbacks)} for t, tier in sorted(spec.tiers.items()) if tier.fallbacks]
    router = {
        "routing_strategy": "simple-shuffle",
        "num_retries": spec.num_retries,
        "allowed_fails": spec.allowed_fails,
        "cooldown_time": spec.cooldown_seconds,
        "fallbacks": fallbacks,
    }
    litellm_settings = {"drop_params": True}
    if spec.callbacks:
        litellm_settings["callbacks"] = list(spec.callbacks)
    return {
        "model_list": model_list,
        "router_settings": router,
        "litellm_settings": litellm_settings,
        "general_settings": {"master_key": f"os.environ/{MASTER_KEY_ENV}"},
    }


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False)
