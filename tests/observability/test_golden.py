"""Golden files: the rendered rules and the dashboards, so a review sees every change to what operators get.
Regenerate with STRAIT_UPDATE_GOLDEN=1 after an intended change (the other tests judge correctness)."""
from __future__ import annotations

from pathlib import Path

import yaml

from strait.render.alerts import render_rule_groups
from strait.render.dashboards import DashboardSpec, dump, render_dashboards
from tests.observability.conftest import phase1_like_spec

from tests.helpers import check_golden  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"



def test_golden_rules():
    check_golden(GOLDEN, "rules.phase1.yaml", yaml.safe_dump({"groups": render_rule_groups(phase1_like_spec())}, sort_keys=False))


def test_golden_dashboards():
    for uid, d in render_dashboards(DashboardSpec(self_hosted_tiers=("self-hosted",), monthly_budget_usd=10000)).items():
        check_golden(GOLDEN, f"{uid}.json", dump(d) + "\n")


def test_rendering_is_deterministic():
    assert render_rule_groups(phase1_like_spec()) == render_rule_groups(phase1_like_spec())
    assert render_dashboards(DashboardSpec()) == render_dashboards(DashboardSpec())
