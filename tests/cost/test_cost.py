"""cost.json: Infracost-style components and totals, $ per million tokens, and the --compare-to diff."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from strait import cost, sizing
from strait.catalog import load_catalog
from tests.conftest import run_cli

CAT = load_catalog()


def rec(type_, name, inputs):
    return SimpleNamespace(type=type_, name=name, inputs=inputs)


def node_group(name="gpu-ng", types=("g4dn.12xlarge",), capacity="ON_DEMAND", desired=2, max_size=3, pool="t4x4"):
    return rec("aws:eks/nodeGroup:NodeGroup", name, {
        "instanceTypes": list(types), "capacityType": capacity, "labels": {"strait.dev/pool": pool},
        "scalingConfig": {"desiredSize": float(desired), "maxSize": float(max_size)}})


def vllm(name="m-deploy", seqs=32, mml=16384, replicas=2, pool="t4x4", gpu="T4"):
    args = ["s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", "--max-model-len", str(mml), "--max-num-seqs", str(seqs),
            "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.9"]
    return rec("kubernetes:apps/v1:Deployment", name, {"spec": {"replicas": float(replicas), "template": {"spec": {
        "nodeSelector": {"strait.dev/pool": pool, "strait.dev/gpu": gpu},
        "containers": [{"name": "vllm", "command": ["vllm", "serve"], "args": args}]}}}})


def test_components_carry_quantity_unit_price_source_and_date():
    est = cost.estimate([node_group()], "ap-southeast-1", CAT)
    [c] = est.components
    assert (c.unit, c.monthly_quantity, c.unit_price_usd) == ("hours", 1460, 5.474)
    assert c.monthly_cost_usd == round(5.474 * 2 * 730, 2) and c.monthly_cost_max_usd == round(5.474 * 3 * 730, 2)
    assert c.price_source and c.price_as_of == "2026-08-26"
    doc = est.as_json(stack="s")
    [r] = doc["resources"]
    assert r["monthlyCost"] == c.monthly_cost_usd and r["costComponents"][0]["priceAsOf"] == "2026-08-26"
    assert doc["totalMonthlyCost"] == c.monthly_cost_usd and doc["hoursPerMonth"] == 730


def test_unknown_price_is_unknown_not_zero():
    est = cost.estimate([node_group(capacity="SPOT"), node_group("other", types=("g4dn.xlarge",), capacity="SPOT")],
                        "ap-southeast-1", CAT)
    doc = est.as_json()
    assert doc["unknownPrices"] == 1
    unknown = next(r for r in doc["resources"] if r["name"] == "gpu-ng")
    assert unknown["monthlyCost"] is None and unknown["costComponents"][0]["price"] is None
    assert doc["totalMonthlyCost"] == round(0.3034 * 2 * 730, 2)


def test_dollars_per_million_tokens_follow_the_throughput_model():
    est = cost.estimate([node_group(), vllm()], "ap-southeast-1", CAT, utilisation=0.5)
    [s] = est.serving
    arch, var, t4 = CAT.models["qwen2.5-32b-instruct"], CAT.models["qwen2.5-32b-instruct"].variants["awq"], CAT.gpus["T4"]
    plan = sizing.plan_kv(arch, var.weights_gib, t4.memory_gib, tp=4, max_model_len=16384, max_num_seqs=32, gpu_name="T4")
    t = sizing.serving_throughput(plan, params_billion=arch.params_billion, tp=4, dense_tflops=t4.bf16_dense_tflops,
                                  memory_bandwidth_gbps=t4.memory_bandwidth_gbps, prompt_tokens=500, output_tokens=200)
    tps = t.output_tokens_per_second
    assert s.tokens_per_second_per_replica == round(tps, 1) and s.batch == 32 and s.bound == t.bound
    assert s.usd_per_million_tokens == round(5.474 / (tps * 3600 * 0.5) * 1e6, 2)
    busier = cost.estimate([node_group(), vllm()], "ap-southeast-1", CAT, utilisation=1.0).serving[0]
    assert busier.usd_per_million_tokens == pytest.approx(s.usd_per_million_tokens / 2, abs=0.01)
    assumptions = est.as_json()["assumptions"]
    assert (assumptions["promptTokens"], assumptions["outputTokens"], assumptions["utilisation"]) == (500, 200, 0.5)


def test_commercial_tier_is_priced_at_the_same_mix():
    litellm = rec("kubernetes:core/v1:ConfigMap", "litellm-config", {"data": {"config.yaml": (
        "model_list:\n- model_name: self-hosted\n  litellm_params: {model: hosted_vllm/qwen32b}\n"
        "- model_name: commercial\n  litellm_params: {model: anthropic/claude-sonnet-4-5}\n"
        "- model_name: commercial\n  litellm_params: {model: openai/some-unpriced-model}\n")}})
    doc = cost.estimate([node_group(), vllm(), litellm], "ap-southeast-1", CAT).as_json()
    by_model = {c["model"]: c for c in doc["commercialComparison"]}
    sonnet = by_model["anthropic/claude-sonnet-4-5"]
    assert sonnet["usdPerMillionOutputAtMix"] == 15.0 + 3.0 * 500 / 200 and sonnet["priceAsOf"] == "2025-09-29"
    assert by_model["openai/some-unpriced-model"]["usdPerMillionOutputAtMix"] is None
    assert "hosted_vllm/qwen32b" not in by_model


def test_ngram_speculation_raises_tokens_per_step():
    spec = vllm()
    spec.inputs["spec"]["template"]["spec"]["containers"][0]["args"] += [
        "--speculative-config", '{"method":"ngram","num_speculative_tokens":4}']
    [s] = cost.estimate([node_group(), spec], "ap-southeast-1", CAT).serving
    assert s.speculative_tokens_per_step == round(sizing.speculative_tokens_per_step(0.6, 4), 3)


def test_token_cost_unknown_when_the_pool_has_no_price():
    [s] = cost.estimate([node_group(capacity="SPOT"), vllm()], "ap-southeast-1", CAT).serving
    assert s.usd_per_million_tokens is None and s.note == "pool price unknown"


def test_diff_reports_past_new_and_change():
    old = cost.estimate([node_group(desired=2)], "ap-southeast-1", CAT).as_json()
    new = cost.estimate([node_group(desired=3), node_group("extra", types=("g4dn.xlarge",), desired=1)],
                        "ap-southeast-1", CAT).as_json()
    d = cost.diff(old, new)
    assert d["diffTotalMonthlyCost"] == round(new["totalMonthlyCost"] - old["totalMonthlyCost"], 2)
    rows = {r["name"]: r for r in d["resources"]}
    assert rows["gpu-ng"]["status"] == "changed" and rows["gpu-ng"]["diffMonthlyCost"] == round(5.474 * 730, 2)
    assert rows["extra"]["status"] == "added" and rows["extra"]["pastMonthlyCost"] == 0.0
    assert cost.diff(new, new)["resources"] == []


def test_compare_to_a_previous_plan(planned, tmp_path):
    p = planned["phase1-sg"]
    old = json.loads((p.dir / "cost.json").read_text())
    old["totalMonthlyCost"] -= 1000.0
    old["resources"] = [r for r in old["resources"] if r["name"] != "cluster-eks"]
    prev = tmp_path / "prev-cost.json"
    prev.write_text(json.dumps(old))
    out = tmp_path / "out"
    proc = run_cli("plan", "--stack", "phase1-sg", "--out", str(out), "--compare-to", str(prev))
    assert proc.returncode == 0, proc.stderr
    new = json.loads((out / "phase1-sg" / "cost.json").read_text())
    assert new["diff"]["diffTotalMonthlyCost"] == 1000.0
    assert [r["name"] for r in new["diff"]["resources"]] == ["cluster-eks"]
    md = (out / "phase1-sg" / "policy-report.md").read_text()
    assert "| Project | Baseline | Usage | Total change | New monthly cost |" in md and "+$1,000.00" in md
    # an out dir works as well as a file
    proc = run_cli("plan", "--stack", "phase1-sg", "--out", str(tmp_path / "again"), "--compare-to", str(out))
    assert proc.returncode == 0 and "Cost change vs" in proc.stdout and "+0.00/month expected" in proc.stdout


def test_compare_to_nothing_usable_exits_2(tmp_path):
    proc = run_cli("plan", "--stack", "phase1-sg", "--out", str(tmp_path / "o"), "--compare-to", str(tmp_path))
    assert proc.returncode == 2 and "no cost.json under" in proc.stderr
