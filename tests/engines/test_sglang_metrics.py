"""The committed SGLang metric list is what the pinned SGLang package defines, and the alert rules read
SGLang's own series for SGLang servers."""
from __future__ import annotations

import json
from pathlib import Path

from tests.engines.registries import site_packages
from tests.engines.sglang_metrics import scan

DATA = Path(__file__).resolve().parents[1] / "data" / "metrics" / "sglang-0.5.23.json"


def test_the_committed_list_matches_the_installed_package():
    committed = json.loads(DATA.read_text())
    assert committed == scan(site_packages())
    assert committed["version"] == "0.5.23"
    names = {n for m in committed["metrics"] for n in m["exposed"]}
    assert {"sglang:num_queue_reqs", "sglang:token_usage", "sglang:num_retracted_requests_total",
            "sglang:time_to_first_token_seconds_bucket"} <= names
    assert "sglang:num_requests_waiting" not in names  # vLLM's name, not SGLang's


def test_alerts_cover_sglang_servers():
    from strait.render.alerts import render_rule_groups
    from tests.observability.conftest import phase1_like_spec

    exprs = " ".join(r.get("expr", "") for g in render_rule_groups(phase1_like_spec()) for r in g["rules"])
    for name in ("sglang:time_to_first_token_seconds_bucket", "sglang:num_queue_reqs", "sglang:token_usage",
                 "sglang:num_retracted_requests_total"):
        assert name in exprs
