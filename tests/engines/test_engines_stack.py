"""The test stack engines-jkt plans both engines: what each server runs, kubernetes-validate on the objects,
and the cost estimate's token prices beside the commercial tier's."""
from __future__ import annotations

import json

import pytest

STACK = "engines-jkt"


@pytest.fixture(scope="module")
def stack(planned):
    p = planned[STACK]
    assert p.proc.returncode == 0, p.proc.stdout[-3000:] + p.proc.stderr[-3000:]
    return p


def _deployment(stack, name):
    return next(m for path, m in stack.manifests() if m["kind"] == "Deployment" and m["metadata"]["name"] == name)


def test_both_engines_with_their_features(stack):
    sg = _deployment(stack, "reasoner")["spec"]["template"]["spec"]["containers"][0]
    assert sg["command"] == ["sglang", "serve"]
    assert sg["args"][sg["args"].index("--reasoning-parser") + 1] == "deepseek-r1"
    assert "--api-key" not in sg["args"]
    vl = _deployment(stack, "agent")["spec"]["template"]["spec"]["containers"][0]
    assert vl["command"] == ["vllm", "serve"]
    assert vl["args"][vl["args"].index("--tool-call-parser") + 1] == "hermes"
    spec = json.loads(vl["args"][vl["args"].index("--speculative-config") + 1])
    assert spec == {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4, "prompt_lookup_min": 2}


def test_kubernetes_validates_every_serving_object(stack):
    kv = pytest.importorskip("kubernetes_validate")
    checked = 0
    for path, m in stack.manifests():
        if m["metadata"].get("namespace") == "strait-serving" and m["apiVersion"] != "monitoring.coreos.com/v1":
            kv.validate(m, "1.35", strict=True)
            checked += 1
    assert checked >= 10


def test_cost_prices_tokens_next_to_the_commercial_tier(stack):
    doc = json.loads((stack.dir / "cost.json").read_text())
    serving = {s["resource"]: s for s in doc["serving"]}
    assert serving["agent-deploy"]["speculative_tokens_per_step"] > 1 and serving["reasoner-deploy"]["bound"]
    assert all(s["usd_per_million_tokens"] for s in serving.values())
    (sonnet,) = doc["commercialComparison"]
    assert sonnet["model"] == "anthropic/claude-sonnet-4-5" and sonnet["usdPerMillionOutputAtMix"] == 22.5
    assert doc["assumptions"]["promptTokens"] == 500 and doc["assumptions"]["outputTokens"] == 200
