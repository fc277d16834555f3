"""Each LiteLLM deployment has its own id (``model_info.id``), derived from its tier and model key, never its
position. LiteLLM keys cooldowns by that id: two endpoints of one tier serving the same model name used to share
one (``<tier>--<served name>``), so one dead endpoint cooled its healthy sibling down with it.

Proven with a real ``litellm.Router`` built from the rendered config: two endpoints serving one name, one of them
down (its port closed), the other a live fake vLLM (tests/gateway/fakes.py). Every request must be answered by the
live one; before the fix the shared cooldown left "No deployments available".
"""
from __future__ import annotations

import asyncio
import copy
import os

import pytest

from strait.config import validate_stack
from strait.gateway.spec import gateway_spec
from strait.render.litellm import GatewaySpec, SelfHostedEndpoint, Tier, render_litellm_config
from tests.conftest import load_stack_raw

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

TIER = "self-hosted"
SECRETS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def _two_replica_names(order: tuple[str, str]):
    """phase1-sg with two model keys serving one name, both in the self-hosted tier, listed in ``order``."""
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    mk = raw["gateway"]["tiers"][TIER]["models"][0]
    base = raw["models"][mk]
    for k in order:
        raw["models"][k] = {**copy.deepcopy(base), "served_model_name": "qwen"}
    del raw["models"][mk]
    for t in raw["gateway"]["tiers"].values():
        if mk in t.get("models", []):
            t["models"] = list(order)
    cfg = validate_stack(raw, "phase1-sg", secrets_set=SECRETS)
    return cfg, {k: m.model_copy(update={"max_num_seqs": 8}) for k, m in cfg.models.items()}


def _ids_by_base(order, urls) -> dict[str, str]:
    cfg, models = _two_replica_names(order)
    config = render_litellm_config(gateway_spec(cfg.gateway, models, urls))
    return {d["litellm_params"]["api_base"]: d["model_info"]["id"] for d in config["model_list"]
            if d["model_name"] == TIER}


def test_same_served_name_gets_distinct_ids_named_by_model_key_not_position():
    urls = {k: f"http://{k}.strait-serving.svc.cluster.local:8000/v1" for k in ("east", "west")}
    forward = _ids_by_base(("east", "west"), urls)
    backward = _ids_by_base(("west", "east"), urls)
    assert forward == {urls["east"]: "self-hosted--east", urls["west"]: "self-hosted--west"}
    assert backward == forward  # stable: reordering the tier's models renames nothing


def test_deployments_that_would_share_an_id_are_refused_with_the_fix():
    ep = SelfHostedEndpoint(served_model_name="qwen", api_base="http://a/v1", api_key_env="K")
    spec = GatewaySpec(tiers={TIER: Tier(self_hosted=(ep, SelfHostedEndpoint(
        served_model_name="qwen", api_base="http://b/v1", api_key_env="K")))})
    with pytest.raises(ValueError, match=r"self-hosted.*self-hosted--qwen.*own `key`"):
        render_litellm_config(spec)
    keyed = GatewaySpec(tiers={TIER: Tier(self_hosted=(SelfHostedEndpoint(
        served_model_name="qwen", api_base="http://a/v1", api_key_env="K", key="a"), SelfHostedEndpoint(
        served_model_name="qwen", api_base="http://b/v1", api_key_env="K", key="b")))})
    assert [d["model_info"]["id"] for d in render_litellm_config(keyed)["model_list"]] == [
        "self-hosted--a", "self-hosted--b"]


def _run(coro):
    """asyncio.run closes its loop and leaves none set; Pulumi mock tests later in the process need one."""
    try:
        return asyncio.run(coro)
    finally:
        asyncio.set_event_loop(asyncio.new_event_loop())


def test_a_dead_endpoint_does_not_cool_down_its_sibling_in_a_real_router(monkeypatch):
    litellm = pytest.importorskip("litellm")
    from tests.gateway.fakes import FakeUpstream

    live, dead = FakeUpstream("live"), FakeUpstream("dead")
    dead.stop()  # connection refused, like a dead pod's port
    try:
        urls = {"east": f"{dead.base}/v1", "west": f"{live.base}/v1"}
        cfg, models = _two_replica_names(("east", "west"))
        config = render_litellm_config(gateway_spec(cfg.gateway, models, urls))
        model_list = []
        for d in config["model_list"]:
            if d["model_name"] != TIER:
                continue
            params = dict(d["litellm_params"])
            env = params["api_key"].split("/", 1)[1]
            monkeypatch.setenv(env, "test-key")
            params["api_key"] = "test-key"
            model_list.append({**d, "litellm_params": params})
        assert {d["litellm_params"]["model"] for d in model_list} == {"hosted_vllm/qwen"}
        assert len(model_list) == 2
        # The rendered cooldown settings (allowed_fails 0: the first failure cools a deployment down); no
        # fallbacks, so a request the tier cannot serve fails instead of hiding in another tier.
        settings = {k: v for k, v in config["router_settings"].items()
                    if not k.startswith("redis") and k not in ("fallbacks", "context_window_fallbacks")}
        router = litellm.Router(model_list=model_list, **settings)
        assert len(router.get_model_list()) == 2

        async def ask_many():
            out = []
            for _ in range(12):
                try:
                    r = await router.acompletion(model=TIER, messages=[{"role": "user", "content": "hi"}])
                    out.append(r.choices[0].message.content)
                except Exception as e:  # noqa: BLE001 - the test reports every failure
                    out.append(f"error: {type(e).__name__}: {str(e)[:120]}")
            return out

        answers = _run(ask_many())
        errors = [i for i, a in enumerate(answers) if a.startswith("error")]
        # The rendered retry policy fails over at once (no retry inside the tier), so the one request that met
        # the dead endpoint may fail; from then on the dead endpoint is cooled down and the live one serves all.
        assert len(errors) <= 1 and all("Cannot connect" in answers[i] for i in errors), answers
        assert answers[errors[0] + 1 if errors else 0:] == ["served-by:live"] * (12 - errors[0] - 1 if errors else 12)
        assert len(live.hits) >= 11
    finally:
        live.close()
        dead.close()
