"""The pure classifier and context fit (strait/gateway/routing.py), on their own."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from strait.gateway.routing import Rules, classify, fit_context, signals

RULES = Rules.from_dict({
    "auto_model": "auto",
    "ladder": ["fast", "smart", "commercial"],
    "long_context_tier": "long",
    "long_prompt_tokens": 1000, "many_tools": 3, "large_max_tokens": 2000,
    "tiers": {
        "fast": {"max_input_tokens": 4096, "fallbacks": ["smart"], "context_window_fallbacks": ["long", "commercial"]},
        "smart": {"max_input_tokens": 8192, "fallbacks": ["commercial"], "context_window_fallbacks": ["long"]},
        "long": {"max_input_tokens": 65536, "fallbacks": ["commercial"]},
        "commercial": {"max_input_tokens": None},
    },
})


def req(text="hi", **kw):
    return {"model": "auto", "messages": [{"role": "user", "content": text}], **kw}


def tools(n):
    return [{"type": "function", "function": {"name": f"t{i}", "parameters": {}}} for i in range(n)]


def test_a_trivial_request_goes_to_the_cheapest_tier():
    d = classify(req("What is 2+2?"), RULES)
    assert (d.tier, d.score, d.reasons) == ("fast", 0, ("simple request",))


def test_each_signal_moves_one_rung_and_a_reasoning_cue_two():
    assert classify(req("hi", tools=tools(3)), RULES).tier == "smart"
    assert classify(req("hi", max_tokens=2000), RULES).tier == "smart"
    assert classify(req("a " * 2100), RULES).tier == "smart"  # ~1050 tokens
    d = classify(req("Please prove that there are infinitely many primes"), RULES)
    assert (d.tier, d.score) == ("commercial", 2)
    assert d.reasons == ("reasoning cue 'prove'",)
    assert classify(req("hi", reasoning_effort="high"), RULES).tier == "commercial"
    assert classify(req("hi", tools=tools(5), max_tokens=3000), RULES).tier == "commercial"


def test_cues_count_only_in_the_last_user_message_and_as_whole_words():
    msgs = [{"role": "system", "content": "Think step by step."}, {"role": "user", "content": "Hello"}]
    assert classify({"model": "auto", "messages": msgs}, RULES).tier == "fast"
    assert classify(req("improvement plan"), RULES).tier == "fast"  # 'prove' inside a word does not count


def test_content_part_lists_and_the_responses_api_input_are_measured():
    parts = [{"type": "text", "text": "x" * 8000}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    assert signals({"messages": [{"role": "user", "content": parts}]}, RULES).prompt_tokens == 2000
    assert signals({"input": "y" * 400}, RULES).prompt_tokens == 100


def test_a_prompt_over_the_rungs_window_goes_to_long_context_first():
    d = classify(req("z" * 32000), RULES)  # ~8000 tokens + 1024 expected output > smart's 8192
    assert d.tier == "long"
    assert "exceed the window of smart" in d.reasons[-1]  # the long prompt put it on the smart rung


def test_a_prompt_over_every_window_goes_to_the_largest():
    huge = Rules.from_dict({**{"ladder": ["fast"], "long_context_tier": "long"},
                            "tiers": {"fast": {"max_input_tokens": 1000}, "long": {"max_input_tokens": 2000}}})
    d = classify(req("z" * 40000), huge)
    assert d.tier == "long" and "every window" in d.reasons[-1]


def test_fit_context_reroutes_a_named_tier_only_when_it_does_not_fit():
    assert fit_context("fast", req("short"), RULES) == ("fast", None)
    tier, why = fit_context("fast", req("z" * 20000), RULES)
    assert tier == "long" and "4096-token window of fast" in why
    assert fit_context("long", req("z" * 20000), RULES) == ("long", None)  # no context fallbacks: unchanged
    assert fit_context("unknown-model", req("z" * 99999), RULES) == ("unknown-model", None)


def test_rules_round_trip_the_rendered_json_keys():
    from strait.render.litellm import GatewaySpec, Routing, SelfHostedEndpoint, Tier, render_routing_rules

    spec = GatewaySpec(tiers={"a": Tier(self_hosted=(SelfHostedEndpoint(served_model_name="m", api_base="http://x/v1",
                                                                        api_key_env="K", max_model_len=1024),),
                                        context_window_fallbacks=("b",)),
                              "b": Tier(self_hosted=(SelfHostedEndpoint(served_model_name="n", api_base="http://y/v1",
                                                                        api_key_env="L"),))},
                       routing=Routing(ladder=("a", "b"), long_prompt_tokens=77, reasoning_cues=("ponder",)))
    rules = Rules.from_dict(render_routing_rules(spec))
    assert rules.ladder == ("a", "b") and rules.long_prompt_tokens == 77 and rules.reasoning_cues == ("ponder",)
    assert rules.window("a") == 1024 and rules.window("b") is None
    assert rules.tiers["a"].context_window_fallbacks == ("b",)


message = st.fixed_dictionaries({"role": st.sampled_from(["user", "system", "assistant"]),
                                 "content": st.one_of(st.text(max_size=3000), st.none(),
                                                      st.lists(st.fixed_dictionaries({"type": st.just("text"),
                                                                                      "text": st.text(max_size=500)}),
                                                               max_size=3))})
request = st.fixed_dictionaries({"messages": st.lists(message, max_size=6)},
                                optional={"tools": st.lists(st.just({"type": "function"}), max_size=8),
                                          "max_tokens": st.one_of(st.none(), st.integers(-5, 100000)),
                                          "reasoning_effort": st.sampled_from(["low", "medium", "high"])})


@settings(max_examples=300, deadline=None)
@given(request)
def test_any_request_gets_a_known_tier_and_never_raises(r):
    d = classify(r, RULES)
    assert d.tier in RULES.tiers
    assert d.score >= 0 and d.reasons


@settings(max_examples=200, deadline=None)
@given(request, st.text(min_size=1, max_size=2000))
def test_more_prompt_never_means_a_cheaper_rung(r, extra):
    """Monotonic: appending text to the last message never moves a request down the ladder."""
    order = {t: i for i, t in enumerate(["fast", "smart", "long", "commercial"])}
    msgs = r["messages"] or [{"role": "user", "content": ""}]
    last = dict(msgs[-1])
    last["content"] = (last["content"] if isinstance(last["content"], str) else "") + " " + extra
    bigger = {**r, "messages": [*msgs[:-1], last]}
    base = {**r, "messages": [*msgs[:-1], {**last, "content": last["content"][: -len(extra) - 1]}]}
    assert order[classify(bigger, RULES).tier] >= order[classify(base, RULES).tier]


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 200000))
def test_the_chosen_tier_fits_whenever_any_candidate_does(chars):
    d = classify(req("q" * chars), RULES)
    needed = d.signals.prompt_tokens + 1024
    window = RULES.window(d.tier)
    assert window is None or needed <= window or all(
        (RULES.window(t) or 10**9) < needed for t in ("long", "commercial"))
