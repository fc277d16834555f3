"""'Today' is an input: the plan and the policy pack judge catalog dates against the same, pinned day."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from policies.clock import parse_day, today
from policies.rules import Ctx
from strait.catalog import load_catalog
from tests.conftest import run_cli


def test_strait_today_pins_the_day_for_every_caller(monkeypatch):
    monkeypatch.setenv("STRAIT_TODAY", "2030-01-02")
    assert today() == dt.date(2030, 1, 2)
    assert Ctx(catalog=load_catalog()).today == dt.date(2030, 1, 2)  # the pack's default reads it too
    assert today({}) == dt.date.today()
    with pytest.raises(ValueError, match=r"STRAIT_TODAY='tomorrow' is not a date; write it as YYYY-MM-DD"):
        today({"STRAIT_TODAY": "tomorrow"})
    assert parse_day(" 2026-11-23 ") == dt.date(2026, 11, 23)


def test_plan_judges_prices_against_the_day_it_is_given(tmp_path):
    proc = run_cli("plan", "--stack", "phase1-sg", "--today", "2031-01-01", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    events = json.loads((tmp_path / "phase1-sg" / "policy-report.json").read_text())["policyEvents"]
    stale = [e["message"] for e in events if e["policyName"] == "strait-gpu-price-fresh"]
    assert stale and all(" days old, limit " in m for m in stale)
    as_of = dt.date.fromisoformat(stale[0].split(" is dated ")[1][:10])
    assert f"({(dt.date(2031, 1, 1) - as_of).days} days old" in stale[0]
