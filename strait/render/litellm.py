"""The LiteLLM proxy config and its routing hook, rendered from typed tiers.

Secrets never appear here: every key is an ``os.environ/VAR`` reference, and the variables come
from a Kubernetes Secret. Checked by the real ``litellm`` proxy (1.109.1) in tests/gateway/, and
by a real ``litellm.Router`` in tests/render/test_litellm_render.py.

Every config key below was checked against litellm 1.109.1's own source:
- ``router_settings`` keys are ``Router.__init__`` arguments (the proxy drops unknown ones with a
  warning, so a typo would silently do nothing: tests assert none are dropped);
- ``retry_policy`` / ``allowed_fails_policy`` field names are litellm.types.router.RetryPolicy /
  AllowedFailsPolicy;
- ``max_parallel_requests`` on a deployment: when every slot is in flight the router raises a 429
  (litellm/router_utils/client_initalization_utils.py ``MaxParallelRequestsLimit``), which with
  ``RateLimitErrorRetries: 0`` falls through to the next tier at once: that is the overflow path.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"
PROVIDER_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "deepseek": "DEEPSEEK_API_KEY"}
REDIS_PASSWORD_ENV = "REDIS_PASSWORD"
#: Secret env var holding the whole Redis URL (``redis://:<password>@host:port``). The proxy is
#: given a URL, not host/port/password: in 1.109.1 only a URL-built client (``redis.Redis.from_url``)
#: leaves redis-py's own connection retries off. The host/port form gets redis-py 8's default of 10
#: retries with backoff, about 4 s per call while Redis refuses connections, and the router makes
#: those calls synchronously on the proxy's event loop (tests/gateway/test_gateway_redis.py).
REDIS_URL_ENV = "REDIS_URL"
DATABASE_URL_ENV = "DATABASE_URL"

#: Files of the gateway's config directory (one ConfigMap, mounted at /etc/litellm).
CONFIG_FILE = "config.yaml"
HOOK_FILE = "strait_hook.py"
ROUTING_FILE = "strait_routing.py"
RULES_FILE = "strait_routing.json"
ERRORS_FILE = "strait_errors.py"
OVERFLOW_FILE = "strait_overflow.py"
HOOK_CALLBACK = "strait_hook.proxy_handler_instance"
_GATEWAY_SRC = Path(__file__).resolve().parents[1] / "gateway"

#: Overflow 429s (max_parallel_requests reached) must never cool a busy tier down: that would send
#: all its traffic to a commercial API for a whole cooldown window. Per minute, per deployment.
RATE_LIMIT_ALLOWED_FAILS = 1000


@dataclass(frozen=True, kw_only=True)
class SelfHostedEndpoint:
    """An in-cluster OpenAI-compatible server (vLLM)."""

    served_model_name: str
    api_base: str  # e.g. http://qwen32b.strait-serving.svc.cluster.local:8000/v1
    api_key_env: str  # env var in the gateway pod holding the server's API key
    max_model_len: int | None = None
    max_parallel_requests: int | None = None
    """In-flight requests one gateway replica sends before overflowing to the next tier.
    Default: no limit (requests queue in vLLM)."""
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None
    key: str | None = None
    """The model key behind this endpoint; names its LiteLLM deployment (``<tier>--<key>``), so two endpoints
    of one tier serving the same model name still cool down apart. Default: the served model name."""


@dataclass(frozen=True, kw_only=True)
class ProviderModel:
    provider: str  # anthropic | openai | deepseek
    model: str
    weight: int = 1
    rpm: int | None = None
    tpm: int | None = None
    max_input_tokens: int | None = None
    api_base: str | None = None
    """Override of the provider's endpoint. Default: the provider's own API. Tests point it at fakes."""


@dataclass(frozen=True, kw_only=True)
class Overflow:
    """Queue-aware overflow of a self-hosted tier (strait/gateway/overflow.py): while the mean waiting queue per
    replica its engines report on ``metrics_urls`` is deeper than ``queue_depth``, new requests go to ``to``."""

    to: str
    queue_depth: float
    metrics_urls: tuple[str, ...]
    metrics_key_envs: tuple[str, ...] = ()
    """Per metrics URL, the env var holding that engine's API key (sent as a Bearer token). Default: none."""


@dataclass(frozen=True, kw_only=True)
class Tier:
    self_hosted: tuple[SelfHostedEndpoint, ...] = ()
    providers: tuple[ProviderModel, ...] = ()
    fallbacks: tuple[str, ...] = ()
    context_window_fallbacks: tuple[str, ...] = ()
    timeout_seconds: float = 60
    stream_timeout_seconds: float | None = None
    """Time to the first streamed chunk. Default: timeout_seconds."""
    max_input_tokens: int | None = None
    """The tier's context window. Default: the smallest window of its deployments."""
    overflow: Overflow | None = None
    """Queue-aware overflow. Default: none (only max_parallel_requests overflows)."""

    @property
    def window(self) -> int | None:
        if self.max_input_tokens:
            return self.max_input_tokens
        known = [e.max_model_len for e in self.self_hosted if e.max_model_len] + \
                [p.max_input_tokens for p in self.providers if p.max_input_tokens]
        return min(known) if known else None


@dataclass(frozen=True, kw_only=True)
class RetryPolicy:
    """Retries on the same tier per error type, with LiteLLM's exponential backoff (honouring
    Retry-After), before its fallbacks run. Field names: litellm.types.router.RetryPolicy.

    Applies to tiers without fallbacks (the last resort, typically commercial). A tier *with*
    fallbacks gets ``FAILOVER`` instead: a single-deployment group would otherwise sleep a backoff
    of up to seconds before retrying the same dead Service, when the next tier is ready now.
    """

    timeout: int = 1
    rate_limit: int = 0  # every tier is throttled by then: the client gets the 429 and Retry-After at once
    internal_server_error: int = 2
    service_unavailable: int = 2
    default: int = 1  # anything else, e.g. connection errors
    bad_request: int = 0  # includes context-window errors: context_window_fallbacks handle those
    authentication: int = 0
    content_policy: int = 0
    not_found: int = 0

    def render(self) -> dict[str, int]:
        return {"TimeoutErrorRetries": self.timeout, "RateLimitErrorRetries": self.rate_limit,
                "InternalServerErrorRetries": self.internal_server_error,
                "ServiceUnavailableErrorRetries": self.service_unavailable, "DefaultRetries": self.default,
                "BadRequestErrorRetries": self.bad_request, "AuthenticationErrorRetries": self.authentication,
                "ContentPolicyViolationErrorRetries": self.content_policy, "NotFoundErrorRetries": self.not_found}


#: Tiers that have somewhere to fall back to fail over at once, whatever the error.
FAILOVER = RetryPolicy(timeout=0, rate_limit=0, internal_server_error=0, service_unavailable=0, default=0)


@dataclass(frozen=True, kw_only=True)
class Routing:
    """The complexity classifier behind the auto model (strait/gateway/routing.py)."""

    ladder: tuple[str, ...]
    auto_model: str = "auto"
    long_context_tier: str | None = None
    long_prompt_tokens: int = 4000
    many_tools: int = 4
    large_max_tokens: int = 4096
    reasoning_cues: tuple[str, ...] | None = None  # None: routing.DEFAULT_REASONING_CUES
    reasoning_cue_weight: int = 2
    chars_per_token: float = 4.0
    default_completion_tokens: int = 1024


@dataclass(frozen=True, kw_only=True)
class RedisSpec:
    """Shared router state (cooldowns, usage) across gateway replicas.

    The state is an optimisation (each replica also keeps it in memory), so Redis failing must cost
    little: short socket timeouts bound each call, and LiteLLM's circuit breaker then skips Redis.
    """

    url_env: str = REDIS_URL_ENV
    """Env var holding the secret ``redis://:<password>@host:port`` URL."""
    socket_connect_timeout_seconds: float = 0.25
    """Time to open a connection. In-cluster Redis connects in about a millisecond."""
    socket_timeout_seconds: float = 0.25
    """Time to wait for one reply. LiteLLM's own default is 5 s (REDIS_SOCKET_TIMEOUT)."""


@dataclass(frozen=True, kw_only=True)
class GatewaySpec:
    tiers: dict[str, Tier]
    num_retries: int = 1
    allowed_fails: int = 0
    cooldown_seconds: int = 30
    callbacks: tuple[str, ...] = field(default=())
    """Extra LiteLLM callbacks (e.g. langfuse_otel), after Strait's own routing hook and prometheus."""
    retry_policy: RetryPolicy = field(default_factory=RetryPolicy)
    routing: Routing | None = None
    redis: RedisSpec | None = None
    database_url_env: str | None = None
    """Env var holding the Postgres URL for spend tracking. Default: no database."""
    metrics: bool = True
    metrics_require_auth: bool = True
    request_timeout_seconds: float = 600
    request_deadline_seconds: float | None = None
    """One deadline per client request, across every tier, retry and fallback: the hook gives each
    attempt at most the time left, and fails the request with a 504 once it has passed.
    Default: none (each attempt is bounded only by its tier's timeout)."""
    forward_client_headers_tiers: tuple[str, ...] = ()
    """Tiers (model groups) whose self-hosted models sit behind the vLLM router: the gateway forwards the
    client's ``x-*`` headers to them (LiteLLM's model_group_settings.forward_client_headers_to_llm_api), so the
    router sees x-session-id (docs/routing.md). Default: none, no client header leaves the gateway."""


def key_env_for(model_key: str) -> str:
    """Env var holding the API key of the self-hosted model ``model_key``."""
    return "VLLM_API_KEY_" + model_key.upper().replace("-", "_")


def max_parallel_for(replicas: int, max_num_seqs: int, gateway_replicas: int, queue_factor: float) -> int:
    """Overflow threshold of one gateway replica for one self-hosted model.

    vLLM runs ``max_num_seqs`` sequences per replica and queues the rest; ``queue_factor`` more of
    them may wait (1.0: one full batch queued behind the running one). Each gateway replica
    counts only its own in-flight requests, so the fleet total is split between them.
    """
    return max(1, math.floor(replicas * max_num_seqs * (1 + queue_factor) / max(1, gateway_replicas)))


def deployment_id(tier: str, *parts: str) -> str:
    """LiteLLM's ``model_info.id`` of one deployment: its cooldowns, failure counts and in-flight counters are
    keyed by it, so two deployments sharing an id fail (and cool down) together."""
    return "--".join((tier, *parts))


def _unique_ids(tname: str, deployments: list[dict]) -> list[dict]:
    ids = [d["model_info"]["id"] for d in deployments]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise ValueError(f"gateway tier {tname!r}: deployments share the LiteLLM id(s) {dup}, so one failing "
                         "endpoint would cool the others down with it; give each self-hosted endpoint its own "
                         "`key` (the model key) and list each provider model once")
    return deployments


def _limits(d: SelfHostedEndpoint | ProviderModel) -> dict:
    out: dict = {}
    if d.weight != 1:
        out["weight"] = d.weight
    if d.rpm:
        out["rpm"] = d.rpm
    if d.tpm:
        out["tpm"] = d.tpm
    return out


def _deployments(tname: str, tier: Tier) -> list[dict]:
    out = []
    timeouts = {"timeout": tier.timeout_seconds, "stream_timeout": tier.stream_timeout_seconds or tier.timeout_seconds}
    for ep in tier.self_hosted:
        params = {"model": f"hosted_vllm/{ep.served_model_name}", "api_base": ep.api_base,
                  "api_key": f"os.environ/{ep.api_key_env}", **timeouts, **_limits(ep)}
        if ep.max_parallel_requests:
            params["max_parallel_requests"] = ep.max_parallel_requests
        info: dict = {"id": deployment_id(tname, ep.key or ep.served_model_name)}
        if ep.max_model_len:
            info["max_input_tokens"] = ep.max_model_len
        out.append({"model_name": tname, "litellm_params": params, "model_info": info})
    for pm in tier.providers:
        params = {"model": f"{pm.provider}/{pm.model}", "api_key": f"os.environ/{PROVIDER_KEY_ENV[pm.provider]}",
                  **timeouts, **_limits(pm)}
        if pm.api_base:
            params["api_base"] = pm.api_base
        info = {"id": deployment_id(tname, pm.provider, pm.model)}
        if pm.max_input_tokens:
            info["max_input_tokens"] = pm.max_input_tokens
        out.append({"model_name": tname, "litellm_params": params, "model_info": info})
    return _unique_ids(tname, out)


def render_litellm_config(spec: GatewaySpec) -> dict:
    model_list = [d for tname, tier in sorted(spec.tiers.items()) for d in _deployments(tname, tier)]
    tiers = sorted(spec.tiers.items())
    router: dict = {
        "routing_strategy": "simple-shuffle",  # honours litellm_params.weight
        "num_retries": spec.num_retries,
        "retry_policy": spec.retry_policy.render(),
        "model_group_retry_policy": {t: FAILOVER.render() for t, tier in tiers if tier.fallbacks},
        "allowed_fails": spec.allowed_fails,
        # allowed_fails counts per minute, per deployment; overflow 429s are not failures of the tier.
        "allowed_fails_policy": {"RateLimitErrorAllowedFails": RATE_LIMIT_ALLOWED_FAILS},
        "cooldown_time": spec.cooldown_seconds,
        "timeout": spec.request_timeout_seconds,
        "fallbacks": [{t: list(tier.fallbacks)} for t, tier in tiers if tier.fallbacks],
        "context_window_fallbacks": [{t: list(tier.context_window_fallbacks)} for t, tier in tiers
                                     if tier.context_window_fallbacks],
        # Off on purpose: in 1.109.1 a prompt over a deployment's max_input_tokens then leaves the group
        # with no deployment, which runs the *regular* fallbacks, not context_window_fallbacks. The
        # Strait hook reroutes over-long prompts by estimate instead, and an upstream's own
        # context-length 400 (ContextWindowExceededError) still triggers context_window_fallbacks.
        "enable_pre_call_checks": False,
    }
    if spec.redis:
        router.update({"redis_url": f"os.environ/{spec.redis.url_env}",
                       # Router(cache_kwargs=...) reaches redis-py's client; LiteLLM's defaults are 5 s and none.
                       "cache_kwargs": {"socket_connect_timeout": spec.redis.socket_connect_timeout_seconds,
                                        "socket_timeout": spec.redis.socket_timeout_seconds}})
    callbacks = [HOOK_CALLBACK]
    if spec.metrics:
        callbacks.append("prometheus")
    callbacks += [c for c in spec.callbacks if c not in callbacks]
    litellm_settings: dict = {"drop_params": True, "callbacks": callbacks, "request_timeout": spec.request_timeout_seconds}
    if spec.metrics:
        litellm_settings["require_auth_for_metrics_endpoint"] = spec.metrics_require_auth
    if spec.forward_client_headers_tiers:
        litellm_settings["model_group_settings"] = {
            "forward_client_headers_to_llm_api": sorted(set(spec.forward_client_headers_tiers))}
    general: dict = {"master_key": f"os.environ/{MASTER_KEY_ENV}"}
    if spec.database_url_env:
        general["database_url"] = f"os.environ/{spec.database_url_env}"
        if spec.redis:
            # The proxy's "coordination Redis" (litellm.proxy._types.CoordinationRedisParams): team and key RPM/TPM
            # limits, spend counters and budget windows shared by every gateway replica. Without it 1.109.1 only
            # infers one from REDIS_* variables, and falls back to per-replica memory if that guess fails.
            general["coordination_redis"] = {
                "url": f"os.environ/{spec.redis.url_env}",
                "socket_connect_timeout": spec.redis.socket_connect_timeout_seconds,
                "socket_timeout": spec.redis.socket_timeout_seconds}
    return {"model_list": model_list, "router_settings": router, "litellm_settings": litellm_settings,
            "general_settings": general}


def render_routing_rules(spec: GatewaySpec) -> dict:
    """The rules ``strait_hook.py`` loads: tier windows and context fallbacks, and the classifier
    thresholds when the auto model is on."""
    tiers = {t: {"max_input_tokens": tier.window, "fallbacks": list(tier.fallbacks),
                 "context_window_fallbacks": list(tier.context_window_fallbacks)}
             for t, tier in sorted(spec.tiers.items())}
    rules: dict = {"tiers": tiers, "auto_model": None, "ladder": [],
                   "request_deadline_seconds": spec.request_deadline_seconds}
    overflow = {t: {"to": tier.overflow.to, "queue_depth": tier.overflow.queue_depth,
                    "metrics_urls": list(tier.overflow.metrics_urls),
                    "metrics_key_envs": dict(zip(tier.overflow.metrics_urls, tier.overflow.metrics_key_envs))}
                for t, tier in sorted(spec.tiers.items()) if tier.overflow is not None}
    if overflow:
        rules["overflow"] = {"tiers": overflow}
    r = spec.routing
    if r is not None:
        rules.update({"auto_model": r.auto_model, "ladder": list(r.ladder), "long_context_tier": r.long_context_tier,
                      "long_prompt_tokens": r.long_prompt_tokens, "many_tools": r.many_tools,
                      "large_max_tokens": r.large_max_tokens, "reasoning_cue_weight": r.reasoning_cue_weight,
                      "chars_per_token": r.chars_per_token, "default_completion_tokens": r.default_completion_tokens})
        if r.reasoning_cues is not None:
            rules["reasoning_cues"] = list(r.reasoning_cues)
    return rules


def render_gateway_files(spec: GatewaySpec) -> dict[str, str]:
    """Every file of the gateway's config directory, by name. No file holds a secret."""
    return {
        CONFIG_FILE: dump(render_litellm_config(spec)),
        RULES_FILE: json.dumps(render_routing_rules(spec), indent=2, sort_keys=True) + "\n",
        HOOK_FILE: (_GATEWAY_SRC / "hook.py").read_text(),
        ROUTING_FILE: (_GATEWAY_SRC / "routing.py").read_text(),
        ERRORS_FILE: (_GATEWAY_SRC / "errors.py").read_text(),
        OVERFLOW_FILE: (_GATEWAY_SRC / "overflow.py").read_text(),
    }


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=True, default_flow_style=False)
