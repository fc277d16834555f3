"""The LiteLLM config renderer: golden files for all four tiers, keys checked against LiteLLM
1.109.1's own definitions, no secrets, and the hook loaded the way the proxy loads it."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from strait.render.litellm import (
    CONFIG_FILE,
    FAILOVER,
    HOOK_CALLBACK,
    RULES_FILE,
    GatewaySpec,
    ProviderModel,
    RedisSpec,
    Routing,
    SelfHostedEndpoint,
    Tier,
    key_env_for,
    render_gateway_files,
    render_litellm_config,
)

from tests.helpers import check_golden  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
FAST, SMART, LONG, COMMERCIAL = "self-hosted-fast", "self-hosted-smart", "long-context", "commercial"


def svc(name: str, window: int, **kw) -> SelfHostedEndpoint:
    return SelfHostedEndpoint(served_model_name=name, api_base=f"http://{name}.strait-serving.svc.cluster.local:8000/v1",
                              api_key_env=key_env_for(name), max_model_len=window, **kw)


SPEC = GatewaySpec(
    tiers={
        FAST: Tier(self_hosted=(svc("qwen7b", 32768, max_parallel_requests=96, weight=3),), fallbacks=(SMART, COMMERCIAL),
                   context_window_fallbacks=(LONG,), timeout_seconds=30, stream_timeout_seconds=10),
        SMART: Tier(self_hosted=(svc("qwen32b", 16384, max_parallel_requests=64, weight=2),), fallbacks=(COMMERCIAL,),
                    context_window_fallbacks=(LONG, COMMERCIAL), timeout_seconds=120, stream_timeout_seconds=20),
        LONG: Tier(self_hosted=(svc("qwen7b-1m", 131072, max_parallel_requests=8),), fallbacks=(COMMERCIAL,),
                   context_window_fallbacks=(COMMERCIAL,), timeout_seconds=300),
        COMMERCIAL: Tier(providers=(ProviderModel(provider="anthropic", model="claude-sonnet-4-5", weight=2, rpm=4000,
                                                  tpm=2000000, max_input_tokens=200000),
                                    ProviderModel(provider="openai", model="gpt-5-mini", rpm=5000, max_input_tokens=400000),
                                    ProviderModel(provider="deepseek", model="deepseek-chat", max_input_tokens=128000)),
                         timeout_seconds=120),
    },
    routing=Routing(ladder=(FAST, SMART, COMMERCIAL), long_context_tier=LONG),
    redis=RedisSpec(),
    callbacks=("langfuse_otel",),
    request_deadline_seconds=420,
)



def test_golden_four_tier_config_and_rules():
    files = render_gateway_files(SPEC)
    check_golden(GOLDEN, "litellm-four-tiers.config.yaml", files[CONFIG_FILE])
    check_golden(GOLDEN, "litellm-four-tiers.rules.json", files[RULES_FILE])


def test_the_hook_and_routing_module_ship_verbatim():
    files = render_gateway_files(SPEC)
    src = Path(__file__).resolve().parents[2] / "strait" / "gateway"
    assert files["strait_hook.py"] == (src / "hook.py").read_text()
    assert files["strait_routing.py"] == (src / "routing.py").read_text()
    assert files["strait_errors.py"] == (src / "errors.py").read_text()
    assert json.loads(files[RULES_FILE])["request_deadline_seconds"] == 420


def test_every_tier_is_a_model_group_with_its_own_limits():
    cfg = render_litellm_config(SPEC)
    groups = {}
    for d in cfg["model_list"]:
        groups.setdefault(d["model_name"], []).append(d)
    assert set(groups) == {FAST, SMART, LONG, COMMERCIAL}
    assert [d["litellm_params"]["model"] for d in groups[COMMERCIAL]] == [
        "anthropic/claude-sonnet-4-5", "openai/gpt-5-mini", "deepseek/deepseek-chat"]
    fast = groups[FAST][0]["litellm_params"]
    assert (fast["timeout"], fast["stream_timeout"], fast["max_parallel_requests"], fast["weight"]) == (30, 10, 96, 3)
    assert groups[COMMERCIAL][0]["litellm_params"]["rpm"] == 4000
    assert groups[LONG][0]["model_info"]["max_input_tokens"] == 131072
    ids = [d["model_info"]["id"] for d in cfg["model_list"]]
    assert len(ids) == len(set(ids))


def test_fallbacks_retries_and_cooldowns():
    r = render_litellm_config(SPEC)["router_settings"]
    assert r["fallbacks"] == [{LONG: [COMMERCIAL]}, {FAST: [SMART, COMMERCIAL]}, {SMART: [COMMERCIAL]}]
    assert r["context_window_fallbacks"] == [{LONG: [COMMERCIAL]}, {FAST: [LONG]}, {SMART: [LONG, COMMERCIAL]}]
    # tiers with somewhere to go fail over at once; the last resort retries with backoff
    assert r["model_group_retry_policy"] == {t: FAILOVER.render() for t in (FAST, LONG, SMART)}
    assert r["retry_policy"]["InternalServerErrorRetries"] == 2
    # a 429 on the last resort goes back to the client at once, with the upstream's Retry-After
    assert r["retry_policy"]["RateLimitErrorRetries"] == 0
    assert (r["allowed_fails"], r["cooldown_time"]) == (0, 30)
    assert r["allowed_fails_policy"] == {"RateLimitErrorAllowedFails": 1000}
    assert r["enable_pre_call_checks"] is False
    # One secret URL (a URL-built redis-py client does not retry connections), short socket timeouts.
    assert r["redis_url"] == "os.environ/REDIS_URL"
    assert not {"redis_host", "redis_port", "redis_password"} & set(r)
    assert r["cache_kwargs"] == {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}


def test_callbacks_keep_the_hook_first_and_pass_extra_ones_through():
    ls = render_litellm_config(SPEC)["litellm_settings"]
    assert ls["callbacks"] == [HOOK_CALLBACK, "prometheus", "langfuse_otel"]
    assert ls["require_auth_for_metrics_endpoint"] is True


def test_no_file_holds_anything_but_env_references_for_keys():
    files = render_gateway_files(SPEC)
    cfg = yaml.safe_load(files[CONFIG_FILE])
    keys = [d["litellm_params"]["api_key"] for d in cfg["model_list"]]
    assert keys and all(k.startswith("os.environ/") for k in keys)
    assert cfg["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert "api_key" not in json.loads(files[RULES_FILE])


# --- against LiteLLM 1.109.1 itself ------------------------------------------------------------

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # never fetch the cost map from the internet
litellm_router_api = pytest.importorskip("litellm.router_api", reason="needs litellm: scripts/setup.sh --test")


def test_every_router_setting_is_a_router_argument():
    """The proxy drops unknown router_settings with only a warning: a typo would silently do nothing."""
    from litellm.types.router import AllowedFailsPolicy, RetryPolicy

    r = render_litellm_config(SPEC)["router_settings"]
    assert set(r) <= set(litellm_router_api.router_init_args())
    assert set(r["retry_policy"]) <= set(RetryPolicy.model_fields)
    for policy in r["model_group_retry_policy"].values():
        assert set(policy) <= set(RetryPolicy.model_fields)
    assert set(r["allowed_fails_policy"]) <= set(AllowedFailsPolicy.model_fields)


def test_a_real_router_builds_from_the_rendered_config(monkeypatch):
    import litellm

    cfg = render_litellm_config(SPEC)
    model_list = []
    for d in cfg["model_list"]:
        params = {k: ("test-key" if str(v).startswith("os.environ/") else v) for k, v in d["litellm_params"].items()}
        model_list.append({**d, "litellm_params": params})
    settings = {k: v for k, v in cfg["router_settings"].items() if not k.startswith("redis") and k != "cache_kwargs"}
    router = litellm.Router(model_list=model_list, **settings)
    assert set(router.get_model_names()) == {FAST, SMART, LONG, COMMERCIAL}


def test_the_proxy_loads_the_hook_from_the_config_directory(tmp_path, monkeypatch):
    """The same call the proxy makes for `callbacks: [strait_hook.proxy_handler_instance]`."""
    from litellm.integrations.custom_logger import CustomLogger
    from litellm.proxy.types_utils.utils import get_instance_fn

    for name, text in render_gateway_files(SPEC).items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir("/")
    hook = get_instance_fn(HOOK_CALLBACK, config_file_path=str(tmp_path / CONFIG_FILE))
    assert isinstance(hook, CustomLogger)
    assert type(hook).__module__ == "strait_hook"  # from the directory, not from this checkout
    assert hook.rules.ladder == (FAST, SMART, COMMERCIAL)
