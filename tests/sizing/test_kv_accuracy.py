"""The KV-cache planner against public vLLM startup logs (tests/data/kv_cache_cases.yaml)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.sizing.kv_accuracy import CASES, INPUTS, evaluate, summary

import yaml

RESULTS = {r.name: r for r in evaluate()}


def test_every_case_has_planner_inputs():
    cases = set(yaml.safe_load(CASES.read_text())["cases"])
    assert cases == set(yaml.safe_load(INPUTS.read_text())["cases"])
    assert len(cases) == 16


def test_exactly_the_two_non_reconciling_cases_are_excluded_with_a_reason():
    excluded = {n: r.excluded for n, r in RESULTS.items() if r.excluded}
    assert sorted(excluded) == ["dsr1-distill-qwen14b-2x4090-tp2", "qwen3-235b-fp8-h100-tp4"]
    assert all(len(reason.split()) > 10 for reason in excluded.values())


@pytest.mark.parametrize("name", sorted(n for n, r in RESULTS.items() if not r.excluded))
def test_planner_within_bound(name):
    r = RESULTS[name]
    if abs(r.token_error) <= 0.10:
        return
    # Small pools: within 1 GiB of the reported available KV memory is enough.
    assert r.reported_kv_gib is not None and r.reported_kv_gib < 10, (
        f"{name}: planned {r.predicted_tokens} tokens vs {r.reported_tokens} reported ({r.token_error:+.1%})")
    assert abs(r.kv_gib_error) <= 1.0, f"{name}: planned {r.predicted_kv_gib:.2f} GiB vs {r.reported_kv_gib} GiB"


def test_large_pools_are_within_ten_percent_and_mean_error_is_small():
    s = summary(list(RESULTS.values()))
    assert s["cases"] == 14
    assert s["mean_abs_pct"] < 5.0
    for r in RESULTS.values():
        if not r.excluded and r.reported_kv_gib and r.reported_kv_gib >= 10:
            assert abs(r.token_error) <= 0.10, r.name


def test_report_script_prints_the_measured_error():
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, str(root / "tests/sizing/kv_accuracy.py")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "14 included cases: mean |error|" in out.stdout
    assert out.stdout.count("EXCLUDED") == 2
