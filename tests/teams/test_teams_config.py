"""gateway.teams: typed, validated before any resource exists, with the exact error text."""
from __future__ import annotations

import copy

import pytest

from strait.config import ConfigError, validate_stack
from tests.conftest import load_stack_raw

SECRETS = {"litellm_master_key", "anthropic_api_key", "openai_api_key", "deepseek_api_key", "litellm_database_url"}


def _raw(teams: dict, spend_tracking: bool = True) -> dict:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))  # tiers: self-hosted, commercial; routing: auto
    raw["gateway"]["teams"] = teams
    raw["gateway"]["spend_tracking"] = spend_tracking
    return raw


def _errors(raw: dict) -> list[str]:
    with pytest.raises(ConfigError) as e:
        validate_stack(raw, "phase1-sg", secrets_set=SECRETS)
    return str(e.value).splitlines()[1:]


def test_teams_are_typed_and_keyed_by_name():
    cfg = validate_stack(_raw({
        "search": {"monthly_budget_usd": 500, "rpm_limit": 600, "tpm_limit": 2_000_000, "models": ["self-hosted", "auto"]},
        "support": {"monthly_budget_usd": 25.5, "models": ["commercial"]},
    }), "phase1-sg", secrets_set=SECRETS)
    search, support = cfg.gateway.teams["search"], cfg.gateway.teams["support"]
    assert (search.monthly_budget_usd, search.rpm_limit, search.tpm_limit) == (500, 600, 2_000_000)
    assert search.models == ["self-hosted", "auto"]
    assert (support.rpm_limit, support.tpm_limit) == (None, None)  # no team limit unless set


def test_no_teams_is_the_default():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    assert validate_stack(raw, "phase1-sg", secrets_set=SECRETS).gateway.teams == {}


def test_budgets_must_be_finite_and_positive():
    assert _errors(_raw({"a": {"monthly_budget_usd": 0, "models": ["commercial"]},
                         "b": {"monthly_budget_usd": float("inf"), "models": ["commercial"]},
                         "c": {"monthly_budget_usd": -5, "models": ["commercial"]},
                         "d": {"models": ["commercial"]}})) == [
        "  - strait:gateway.teams.a.monthly_budget_usd = 0: input should be greater than 0. Fix: give a value that is "
        "greater than 0.",
        "  - strait:gateway.teams.b.monthly_budget_usd = inf: input should be a finite number. Fix: give a finite "
        "number: .inf and .nan are not allowed (to leave a limit off, remove the key).",
        "  - strait:gateway.teams.c.monthly_budget_usd = -5: input should be greater than 0. Fix: give a value that is "
        "greater than 0.",
        "  - strait:gateway.teams.d.monthly_budget_usd = <not set>: field required. Fix: add this key to the stack "
        "file.",
    ]


def test_models_must_be_served_by_this_gateway_and_teams_need_the_database():
    assert _errors(_raw({"search": {"monthly_budget_usd": 50, "models": ["self-hosted", "gpt-4", "self-hosted"]}},
                        spend_tracking=False)) == [
        "  - strait:gateway.spend_tracking = False: teams need LiteLLM's Postgres database (teams, keys, budgets and "
        "spend live there), and spend_tracking is off. Fix: set gateway.spend_tracking: true, or remove gateway.teams.",
        "  - strait:gateway.teams.search.models[1] = 'gpt-4': not a model this gateway serves. Fix: use one of: auto, "
        "commercial, self-hosted.",
        "  - strait:gateway.teams.search.models = [\"self-hosted\", \"gpt-4\", \"self-hosted\"]: lists a model twice. "
        "Fix: name each model once.",
    ]


def test_team_names_and_unknown_keys_are_errors():
    lines = _errors(_raw({"Search Team": {"monthly_budget_usd": 5, "models": ["auto"]},
                          "ops": {"monthly_budget_usd": 5, "models": ["auto"], "budget": 3}}))
    assert lines[0].startswith("  - strait:gateway.teams.Search Team = 'Search Team': not a valid name")
    assert lines[1] == ("  - strait:gateway.teams.ops.budget = <not shown>: unknown key 'budget'. Fix: remove it or "
                        "correct its spelling; allowed keys here: models, monthly_budget_usd, rpm_limit, tpm_limit.")
    assert len(lines) == 2
