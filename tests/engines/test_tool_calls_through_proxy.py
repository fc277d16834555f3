"""Agents' tool calls are served by the self-hosted tier, through the real LiteLLM proxy.

The proxy (litellm[proxy]==1.109.1) runs on loopback with the files Strait renders; behind it, fake
vLLM servers behave as vLLM does with the argv Strait renders for the catalog's model (see
fake_engine.py): with the tool-call parser they answer ``tool_calls``, without it they answer
vLLM's 400. An OpenAI SDK client talks to the proxy.
"""
from __future__ import annotations

import importlib.util
import secrets

import pytest

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)

import openai  # noqa: E402

from strait.catalog import load_catalog  # noqa: E402
from strait.engines import resolve_features  # noqa: E402
from strait.render.litellm import (  # noqa: E402
    MASTER_KEY_ENV,
    PROVIDER_KEY_ENV,
    GatewaySpec,
    ProviderModel,
    Routing,
    SelfHostedEndpoint,
    Tier,
    render_gateway_files,
)
from strait.render.vllm import VllmSpec, render_vllm_args  # noqa: E402
from tests.engines.fake_engine import VLLM_AUTO_TOOL_ERROR, FakeEngine  # noqa: E402
from tests.gateway.proxy import Proxy  # noqa: E402

CAT = load_catalog()


def weather_tool(name: str = "get_weather") -> dict:
    return {"type": "function", "function": {
        "name": name, "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}


def qwen_argv(served: str, *, tool_calling: bool | None) -> list[str]:
    features = resolve_features(CAT.models["qwen2.5-32b-instruct"], "vllm", tool_calling=tool_calling, reasoning=None)
    return render_vllm_args(VllmSpec(model="s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", served_model_name=served,
                                     max_model_len=16384, tool_call_parser=features.tool_call_parser,
                                     chat_template=features.chat_template, reasoning_parser=features.reasoning_parser))


@pytest.fixture(scope="module")
def stack():
    keys = {n: "k-" + secrets.token_hex(12) for n in ("on", "off", "openai")}
    on = FakeEngine(qwen_argv("qwen32b", tool_calling=None), keys["on"])
    off = FakeEngine(qwen_argv("qwen32b-notools", tool_calling=False), keys["off"])
    # The commercial tier: an OpenAI-compatible fake that always parses tool calls.
    commercial = FakeEngine(["gpt", "--served-model-name", "gpt-5-mini", "--enable-auto-tool-choice",
                             "--tool-call-parser", "openai"], keys["openai"])
    hosted = lambda name, fake, env: SelfHostedEndpoint(  # noqa: E731
        served_model_name=name, api_base=f"{fake.base}/v1", api_key_env=env, max_model_len=16384)
    spec = GatewaySpec(
        tiers={
            "self-hosted": Tier(self_hosted=(hosted("qwen32b", on, "VLLM_API_KEY_ON"),), fallbacks=("commercial",),
                                timeout_seconds=10),
            "no-tools": Tier(self_hosted=(hosted("qwen32b-notools", off, "VLLM_API_KEY_OFF"),),
                             fallbacks=("commercial",), timeout_seconds=10),
            "commercial": Tier(providers=(ProviderModel(provider="openai", model="gpt-5-mini",
                                                        api_base=f"{commercial.base}/v1"),), timeout_seconds=10),
        },
        routing=Routing(ladder=("self-hosted", "commercial")), cooldown_seconds=1)
    env = {MASTER_KEY_ENV: "sk-" + secrets.token_hex(24), "VLLM_API_KEY_ON": keys["on"],
           "VLLM_API_KEY_OFF": keys["off"], PROVIDER_KEY_ENV["openai"]: keys["openai"]}
    proxy = Proxy.from_files(render_gateway_files(spec), env).start()
    client = openai.OpenAI(base_url=f"{proxy.base}/v1", api_key=proxy.master_key, max_retries=0, timeout=30)
    yield {"on": on, "off": off, "commercial": commercial, "client": client, "proxy": proxy}
    proxy.cleanup()
    for f in (on, off, commercial):
        f.close()


def _reset(stack):
    for k in ("on", "off", "commercial"):
        stack[k].requests.clear()


def test_the_rendered_argv_turns_the_parser_on_and_the_fake_follows_it(stack):
    assert stack["on"].tool_parser == "hermes" and stack["on"].auto_tools
    assert stack["off"].tool_parser is None and not stack["off"].auto_tools


@pytest.mark.parametrize("tool_choice", ["auto", "required", {"type": "function", "function": {"name": "get_weather"}}])
def test_self_hosted_tier_returns_tool_calls_to_an_openai_client(stack, tool_choice):
    _reset(stack)
    resp = stack["client"].chat.completions.create(
        model="self-hosted", messages=[{"role": "user", "content": "Weather in Singapore?"}],
        tools=[weather_tool(), weather_tool("get_time")], tool_choice=tool_choice)
    call = resp.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Singapore"}'
    assert resp.choices[0].finish_reason == "tool_calls"
    (sent,) = stack["on"].requests
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "get_time"]
    assert sent["tool_choice"] == tool_choice and sent["model"] == "qwen32b"
    assert stack["commercial"].requests == []


def test_without_the_parser_vllm_refuses_and_tool_requests_go_commercial(stack):
    """The bug of issue 9: the same request against a server rendered without the parser."""
    _reset(stack)
    resp = stack["client"].chat.completions.create(
        model="no-tools", messages=[{"role": "user", "content": "Weather?"}], tools=[weather_tool()])
    assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"
    assert len(stack["off"].requests) == 1 and len(stack["commercial"].requests) == 1


def test_without_fallback_the_client_sees_vllms_400():
    off = FakeEngine(qwen_argv("q", tool_calling=False), "k")
    try:
        import httpx

        r = httpx.post(f"{off.base}/v1/chat/completions", headers={"Authorization": "Bearer k"},
                       json={"model": "q", "messages": [{"role": "user", "content": "x"}], "tools": [weather_tool()]})
        assert r.status_code == 400 and r.json()["error"]["message"] == VLLM_AUTO_TOOL_ERROR
    finally:
        off.close()


def test_auto_model_keeps_a_few_tools_self_hosted_and_counts_many_as_complex(stack):
    _reset(stack)
    client = stack["client"]
    few = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Weather?"}],
                                         tools=[weather_tool()])
    assert few.choices[0].message.tool_calls and len(stack["on"].requests) == 1
    assert stack["commercial"].requests == []
    many = [weather_tool(f"tool_{i}") for i in range(4)]  # routing.many_tools defaults to 4: score +1
    resp = client.chat.completions.create(model="auto", messages=[{"role": "user", "content": "Weather?"}], tools=many)
    assert resp.choices[0].message.tool_calls[0].function.name == "tool_0"
    assert len(stack["on"].requests) == 1 and len(stack["commercial"].requests) == 1
    assert len(stack["commercial"].requests[0]["tools"]) == 4
