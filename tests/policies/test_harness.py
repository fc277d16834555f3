"""Offline config resolution, as the engine does it: schema defaults, initial_config, `all`, per-policy."""
from __future__ import annotations

import pytest

from policies import harness
from policies.rules import RULES


def test_schema_defaults_are_filled_with_jsonschema():
    cfg = harness.resolve_config()
    assert cfg["strait-gpu-spend-monthly-cap"] == ("mandatory", {"monthly_budget_usd": None, "hours_per_month": 730})
    assert cfg["strait-max-model-len-cap"][1] == {"caps_by_phase": {"phase1_mvp": 32768}, "default_cap": 131072}
    assert cfg["strait-pdb-allows-drain"] == ("mandatory", {})
    assert {n: lvl for n, (lvl, _) in cfg.items()} == {r.name: r.enforcement for r in RULES}


def test_merge_order_defaults_initial_all_then_policy():
    cfg = harness.resolve_config(
        file_config={"all": "advisory", "strait-gpu-price-fresh": {"enforcementLevel": "mandatory", "max_age_days": 5}},
        initial_config={"all": "disabled", "strait-gpu-spend-monthly-cap": {"monthly_budget_usd": 100, "hours_per_month": 1}})
    assert cfg["strait-gpu-spend-monthly-cap"] == ("advisory", {"monthly_budget_usd": 100, "hours_per_month": 1})
    assert cfg["strait-gpu-price-fresh"] == ("mandatory", {"max_age_days": 5})
    assert cfg["strait-no-plaintext-secrets"][0] == "advisory"  # `all` overrides initial_config.all
    only_initial = harness.resolve_config(initial_config={"all": "disabled"})
    assert {lvl for lvl, _ in only_initial.values()} == {"disabled"}


@pytest.mark.parametrize("bad, message", [
    ({"strait-nope": "mandatory"}, "unknown policies: strait-nope"),
    ({"all": "blocking"}, "'blocking' is not an enforcement level"),
    ({"strait-gpu-spend-monthly-cap": {"monthly_budget_usd": -5}}, "strait-gpu-spend-monthly-cap: -5 is less than or equal"),
    ({"strait-gpu-price-fresh": {"max_age_days": "old"}}, "'old' is not of type 'integer'"),
])
def test_invalid_config_is_rejected(bad, message):
    with pytest.raises(harness.PolicyConfigError, match=message.replace("$", r"\$")):
        harness.resolve_config(bad)


def test_stack_config_carries_the_budget():
    assert harness.stack_policy_config(12500) == {"strait-gpu-spend-monthly-cap": {"monthly_budget_usd": 12500}}
