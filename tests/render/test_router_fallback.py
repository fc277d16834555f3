"""The rendered LiteLLM config builds a real litellm.Router, and a request to the self-hosted tier falls
back to the commercial tier when the self-hosted upstream is down.

The self-hosted deployment keeps its rendered parameters except api_base, which points at a closed
port on 127.0.0.1 (the upstream is "down"); the commercial deployment answers with LiteLLM's own
mock_response (no network). Everything else (tiers, fallbacks, retries, cooldowns) is as rendered.
"""
import asyncio
import os
import socket

import pytest
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm")


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _router(config: dict, monkeypatch):
    for entry in config["model_list"]:
        for v in entry["litellm_params"].values():
            if isinstance(v, str) and v.startswith("os.environ/"):
                monkeypatch.setenv(v.split("/", 1)[1], "test-key")
    down = f"http://127.0.0.1:{_closed_port()}/v1"
    model_list = []
    for entry in config["model_list"]:
        params = dict(entry["litellm_params"])
        for k, v in list(params.items()):
            if isinstance(v, str) and v.startswith("os.environ/"):
                params[k] = os.environ[v.split("/", 1)[1]]
        if params["model"].startswith("hosted_vllm/"):
            params["api_base"] = down
        else:
            params["mock_response"] = "answer from the commercial tier"
        model_list.append({**entry, "litellm_params": params})
    # Shared state needs a Redis this test does not run; routing behaviour is the same without it.
    settings = {k: v for k, v in config["router_settings"].items() if not k.startswith("redis")}
    return litellm.Router(model_list=model_list, **settings)


def _run(coro):
    """asyncio.run closes its loop and leaves none set; Pulumi mock tests later in the process need one."""
    try:
        return asyncio.run(coro)
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())


def test_self_hosted_down_falls_back_to_commercial(planned, monkeypatch):
    config = yaml.safe_load((planned["phase1-sg"].dir / "litellm" / "config.yaml").read_text())
    router = _router(config, monkeypatch)
    tiers = {m["model_name"] for m in config["model_list"]}
    assert {"self-hosted", "commercial"} <= tiers
    resp = _run(router.acompletion(model="self-hosted", messages=[{"role": "user", "content": "hi"}]))
    assert resp.choices[0].message.content == "answer from the commercial tier"


def test_commercial_tier_answers_directly(planned, monkeypatch):
    config = yaml.safe_load((planned["phase1-sg"].dir / "litellm" / "config.yaml").read_text())
    router = _router(config, monkeypatch)
    resp = _run(router.acompletion(model="commercial", messages=[{"role": "user", "content": "hi"}]))
    assert resp.choices[0].message.content == "answer from the commercial tier"
