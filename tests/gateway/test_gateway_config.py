"""The gateway section of a stack: exact errors for bad routing, keys and secrets; the spec it becomes."""
from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strait.config import ConfigError, validate_stack
from strait.gateway.keys import master_key_problem
from strait.gateway.spec import gateway_spec
from strait.render.litellm import max_parallel_for
from tests.conftest import load_stack_raw

PROVIDER_KEYS = {"anthropic_api_key", "openai_api_key", "deepseek_api_key"}


def _errors(mutate, secrets=PROVIDER_KEYS) -> list[str]:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    mutate(raw)
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=secrets)
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


def gw(**kw):
    return lambda raw: raw["gateway"].update(kw)


CASES = {
    "ladder names a missing tier": (
        lambda r: r["gateway"]["routing"].update(ladder=["self-hosted", "premium"]),
        ["strait:gateway.routing.ladder[1] = 'premium': not a tier of this gateway. Fix: use one of: commercial, self-hosted."]),
    "ladder repeats a tier": (
        lambda r: r["gateway"]["routing"].update(ladder=["self-hosted", "self-hosted"]),
        ["strait:gateway.routing.ladder = [\"self-hosted\", \"self-hosted\"]: names a tier twice. Fix: list each tier once, cheapest first."]),
    "long-context tier unknown": (
        lambda r: r["gateway"]["routing"].update(long_context_tier="long"),
        ["strait:gateway.routing.long_context_tier = 'long': not a tier of this gateway. Fix: use one of: commercial, self-hosted."]),
    "auto model shadows a tier": (
        lambda r: r["gateway"]["routing"].update(auto_model="commercial"),
        ["strait:gateway.routing.auto_model = 'commercial': is also the name of a tier or model, so clients could not "
         "ask for either one. Fix: pick a name no tier or model uses, e.g. auto."]),
    "context fallback to itself": (
        lambda r: r["gateway"]["tiers"]["self-hosted"].update(context_window_fallbacks=["self-hosted"]),
        ["strait:gateway.tiers.self-hosted.context_window_fallbacks[0] = 'self-hosted': not another tier of this gateway. "
         "Fix: use one of: commercial."]),
    "unknown routing key": (
        lambda r: r["gateway"]["routing"].update(ladr=["self-hosted"]),
        ["strait:gateway.routing.ladr = <not shown>: unknown key 'ladr'. Fix: did you mean 'ladder'? remove it or "
         "correct its spelling; "
         "allowed keys here: auto_model, chars_per_token, default_completion_tokens, ladder, large_max_tokens, "
         "long_context_tier, long_prompt_tokens, many_tools, reasoning_cue_weight, reasoning_cues."]),
    "spend tracking without its database": (
        gw(spend_tracking=True),
        ["strait:gateway.spend_tracking = True: needs the secret strait:litellm_database_url, which is not set. "
         "Fix: run `pulumi config set --secret strait:litellm_database_url postgresql://...`, or set spend_tracking: false."]),
    "deadline shorter than a tier's timeout": (
        gw(request_deadline_seconds=100),
        ["strait:gateway.request_deadline_seconds = 100: is shorter than gateway.tiers.commercial.timeout_seconds "
         "(120 s), so that tier could never use its own timeout. Fix: raise request_deadline_seconds to at least 120, "
         "or lower the tier's timeout_seconds.",
         "strait:gateway.request_deadline_seconds = 100: is shorter than gateway.tiers.self-hosted.timeout_seconds "
         "(120 s), so that tier could never use its own timeout. Fix: raise request_deadline_seconds to at least 120, "
         "or lower the tier's timeout_seconds."]),
    "deadline shorter than a stream timeout": (
        lambda r: (r["gateway"].update(request_deadline_seconds=150),
                   r["gateway"]["tiers"]["self-hosted"].update(stream_timeout_seconds=200)),
        ["strait:gateway.request_deadline_seconds = 150: is shorter than gateway.tiers.self-hosted.stream_timeout_seconds "
         "(200 s), so that tier could never use its own timeout. Fix: raise request_deadline_seconds to at least 200, "
         "or lower the tier's stream_timeout_seconds."]),
    "deadline not a positive number": (
        gw(request_deadline_seconds=0),
        ["strait:gateway.request_deadline_seconds = 0: input should be greater than 0. Fix: give a value that is greater "
         "than 0."]),
    "max_replicas below replicas": (
        gw(replicas=3, max_replicas=2),
        ["strait:gateway.max_replicas = 2: is below gateway.replicas (3), the HPA's minimum. Fix: set max_replicas to at "
         "least 3, or leave it unset to size it from peak_requests_per_second."]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_gateway_config_gives_the_exact_error(case):
    mutate, expected = CASES[case]
    assert _errors(mutate) == expected


@pytest.mark.parametrize("key, problem", [
    ("sk-1234", "is LiteLLM's publicly known example key"),
    ("x" * 40, "does not start with 'sk-', so the proxy would reject it as a malformed key"),
    ("sk-abcdefghij0123", "is shorter than 32 characters"),
    ("sk-" + "ab" * 20, "uses fewer than 10 distinct characters after 'sk-'"),
])
def test_a_weak_master_key_is_refused_without_showing_it(key, problem):
    assert master_key_problem(key) == problem
    raw = load_stack_raw("phase1-sg") | {"litellm_master_key": key}
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS | {"litellm_master_key"})
    text = exc.value.render()
    assert f"strait:litellm_master_key = <secret>: the master key {problem}." in text
    assert key not in text.replace("<secret>", "")


def test_a_strong_master_key_and_the_offline_placeholder_pass():
    import secrets

    for key in ("sk-" + secrets.token_hex(24), "offline-placeholder-litellm-master-key-0123456789abcdef"):
        raw = load_stack_raw("phase1-sg") | {"litellm_master_key": key}
        validate_stack(raw, "phase1-sg", secrets_set=PROVIDER_KEYS | {"litellm_master_key"})


def test_phase1_sg_becomes_a_spec_with_overflow_sized_from_the_model():
    from strait.catalog import load_catalog
    from strait.sizing import resolve_max_num_seqs

    cfg = validate_stack(load_stack_raw("phase1-sg"), "phase1-sg", secrets_set=PROVIDER_KEYS)
    # phase1-sg leaves max_num_seqs unset: the blueprint resolves it from the KV planner (6 on 4x T4 at 16k).
    models = {k: m.model_copy(update={"max_num_seqs": resolve_max_num_seqs(m, load_catalog(), "T4")})
              for k, m in cfg.models.items()}
    spec = gateway_spec(cfg.gateway, models, {"qwen32b": "http://qwen32b.strait-serving.svc.cluster.local:8000/v1"})
    ep = spec.tiers["self-hosted"].self_hosted[0]
    m = models["qwen32b"]
    # 2 vLLM replicas x 6 seqs, one batch may queue, split over 2 gateway replicas.
    assert ep.max_parallel_requests == m.replicas * m.max_num_seqs * 2 // cfg.gateway.replicas == 12
    assert ep.weight == m.replicas
    assert spec.tiers["self-hosted"].window == m.max_model_len
    assert spec.tiers["commercial"].window == 200000
    assert spec.routing is not None and spec.routing.ladder == ("self-hosted", "commercial")
    assert spec.allowed_fails == 0


@given(st.integers(1, 64), st.integers(1, 1024), st.integers(1, 20), st.floats(0, 10))
def test_overflow_threshold_shares_the_fleet_capacity_between_gateway_replicas(replicas, seqs, gateways, q):
    per = max_parallel_for(replicas, seqs, gateways, q)
    assert per >= 1
    fleet = replicas * seqs * (1 + q)
    assert per * gateways <= max(fleet, gateways) + 1e-6  # never more in flight than vLLM can run + queue
    assert max_parallel_for(replicas + 1, seqs, gateways, q) >= per
