"""The blueprint-facing wiring (blueprints/shared/observability.py): observability.alerting turns receivers and SLO
rules on for any blueprint; off (the default), nothing changes."""
from __future__ import annotations

import copy

import pulumi
import pytest

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)

from blueprints.loader import StackSecrets  # noqa: E402
from blueprints.shared.observability import alerting_args  # noqa: E402
from strait.config import validate_stack  # noqa: E402
from strait.render.alertmanager import PAGERDUTY_KEY, SLACK_KEY  # noqa: E402
from strait.render.slo import slo_rule_groups, slo_spec  # noqa: E402
from tests.config.test_stack_config import PROVIDER_KEYS  # noqa: E402
from tests.conftest import load_stack_raw  # noqa: E402

def _cfg(alerting: dict | None):
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    if alerting is not None:
        raw.setdefault("observability", {})["alerting"] = alerting
    a = alerting or {}
    keys = PROVIDER_KEYS | {k for k, on in (("pagerduty_routing_key", a.get("pagerduty")),
                                            ("slack_webhook_url", a.get("slack_channel"))) if on}
    return validate_stack(raw, "phase1-sg", secrets_set=keys)


def test_default_adds_nothing():
    cfg = _cfg(None)
    assert alerting_args(cfg, None) is None
    assert slo_rule_groups(slo_spec(cfg)) == []


def test_receivers_and_slo_rules_when_asked():
    cfg = _cfg({"pagerduty": True, "slack_channel": "#llm-alerts", "slo_alerts": True})
    secrets = StackSecrets({"pagerduty_routing_key": pulumi.Output.secret("k"),
                            "slack_webhook_url": pulumi.Output.secret("https://hooks.slack.com/x")})
    args = alerting_args(cfg, secrets)
    assert set(args.credentials) == {PAGERDUTY_KEY, SLACK_KEY}
    assert [r["name"] for r in args.config["receivers"]] == ["null", "pagerduty", "slack"]
    assert args.receivers_egress is not None
    groups = slo_rule_groups(slo_spec(cfg))
    alerts = {(r["alert"], r["labels"].get("model") or r["labels"].get("tier"), r["labels"]["severity"])
              for g in groups for r in g["rules"] if "alert" in r}
    tiers = sorted(cfg.gateway.tiers)
    assert alerts == ({("StraitTTFTBudgetBurn", m, s) for m in cfg.models for s in ("critical", "warning")}
                      | {("StraitTierErrorBudgetBurn", t, s) for t in tiers for s in ("critical", "warning")})


def test_a_blueprint_that_forgets_the_secrets_is_told():
    cfg = _cfg({"slack_channel": "#llm"})
    with pytest.raises(ValueError, match="called build_monitoring without secrets="):
        alerting_args(cfg, None)
