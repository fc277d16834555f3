"""The classifier's thresholds at their exact boundaries (issue 13, survivor 3): each threshold counts at its
value (`>=`) and not one token below it; a request fits a window it exactly fills (`<=`)."""
from __future__ import annotations

import pytest

from strait.gateway.routing import Rules, classify, fit_context, signals

LONG, TOOLS, LARGE = 1000, 3, 2000
RULES = Rules.from_dict({
    "ladder": ["fast", "smart"], "long_prompt_tokens": LONG, "many_tools": TOOLS, "large_max_tokens": LARGE,
    "chars_per_token": 4.0, "default_completion_tokens": 0,
    "tiers": {"fast": {"max_input_tokens": 10_000, "context_window_fallbacks": ["smart"]},
              "smart": {"max_input_tokens": None}},
})


def req(chars: int, **kw) -> dict:
    return {"model": "auto", "messages": [{"role": "user", "content": "x" * chars}], **kw}


def tool_list(n: int) -> list[dict]:
    return [{"type": "function", "function": {"name": f"t{i}", "parameters": {}}} for i in range(n)]


@pytest.mark.parametrize("chars,tokens,long", [
    (4 * LONG, LONG, True),              # exactly the threshold counts
    (4 * LONG - 4, LONG - 1, False),     # one token below does not
    (4 * (LONG - 1) + 1, LONG, True),    # estimates round up: 3997 chars are 1000 tokens, not 999
])
def test_long_prompt_threshold(chars, tokens, long):
    d = classify(req(chars), RULES)
    assert d.signals.prompt_tokens == tokens
    assert (d.tier == "smart") is long and (d.score == 1) is long, d.reasons


@pytest.mark.parametrize("n,many", [(TOOLS, True), (TOOLS - 1, False)])
def test_many_tools_threshold(n, many):
    d = classify(req(4, tools=tool_list(n)), RULES)
    assert d.signals.tools == n and d.signals.prompt_tokens < LONG
    assert (d.score == 1) is many, d.reasons


@pytest.mark.parametrize("max_tokens,large", [(LARGE, True), (LARGE - 1, False)])
def test_large_output_threshold(max_tokens, large):
    assert (classify(req(4, max_tokens=max_tokens), RULES).score == 1) is large


@pytest.mark.parametrize("prompt_tokens,output,fits", [(9_000, 1_000, True), (9_000, 1_001, False)])
def test_a_request_that_exactly_fills_the_window_fits(prompt_tokens, output, fits):
    r = req(4 * prompt_tokens, max_tokens=output)
    assert signals(r, RULES).prompt_tokens + output == 10_000 + (0 if fits else 1)
    tier, reason = fit_context("fast", r, RULES)
    assert (tier, reason is None) == (("fast", True) if fits else ("smart", False)), reason
