"""The test stack engines-jkt plans both engines, LoRA adapters and a draft model: what each server runs, what it
waits for and syncs, kubernetes-validate on the objects, the gateway's adapter models, and the cost estimate's
token prices beside the commercial tier's."""
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


def test_coder_serves_two_adapters_synced_from_the_cache_and_a_draft_streamed_from_it(stack):
    """The plan's own objects: every adapter and the draft have a seeding Job at their pinned commit, the pod syncs
    the adapters from the cache (never the hub) into the emptyDir --lora-modules names, and the Deployment waits
    for all four Jobs. vLLM's parser judges this argv with every other (tests/render/test_vllm_parser.py)."""
    from tests.conftest import load_stack_raw

    m = load_stack_raw(STACK)["models"]["coder"]
    jobs = {j["metadata"]["name"]: {e["name"]: e.get("value") for e in j["spec"]["template"]["spec"]["containers"][0]["env"]}
            for _, j in stack.manifests() if j["kind"] == "Job" and j["metadata"]["name"].startswith("seed-coder")}
    assert set(jobs) == {"seed-coder", "seed-coder-draft", "seed-coder-lora-sql-helper", "seed-coder-lora-review-bot"}
    for name, a in m["adapters"].items():
        assert (jobs[f"seed-coder-lora-{name}"]["HF_REPO"], jobs[f"seed-coder-lora-{name}"]["REVISION"]) == (
            a["hf_repo"], a["revision"])
    assert jobs["seed-coder-draft"]["REVISION"] == m["speculative"]["draft_revision"]
    pod = _deployment(stack, "coder")["spec"]["template"]["spec"]
    init = {c["name"]: c["command"] for c in pod["initContainers"]}
    bucket = init["wait-for-weights"][init["wait-for-weights"].index("--bucket") + 1]
    syncs = {c[-3]: c[3] for n, c in init.items() if n.startswith("sync-")}
    assert syncs == {f"/adapters/{n}": f"s3://{bucket}/models/{a['hf_repo']}/{a['revision']}/"
                     for n, a in m["adapters"].items()}
    args = pod["containers"][0]["args"]
    i = args.index("--lora-modules")
    assert sorted(args[i + 1:i + 3]) == [f"{n}=/adapters/{n}" for n in sorted(m["adapters"])]
    draft = json.loads(args[args.index("--speculative-config") + 1])
    assert draft["model"] == f"s3://{bucket}/models/Qwen/Qwen2.5-7B-Instruct-AWQ/{m['speculative']['draft_revision']}"
    assert ["aws", "s3api", "wait", "object-exists", "--bucket", bucket, "--key",
            f"models/Qwen/Qwen2.5-7B-Instruct-AWQ/{m['speculative']['draft_revision']}/.strait-complete"] == init["wait-draft"]
    # The draft streams from the cache at start like the model: the startup budget counts both.
    import math

    from strait.catalog import load_catalog
    from strait.config.checks import startup_budget_seconds

    cat = load_catalog()
    gib = cat.variant("qwen2.5-14b-instruct", "awq").weights_gib + cat.variant("qwen2.5-7b-instruct", "awq").weights_gib
    probe = pod["containers"][0]["startupProbe"]
    assert probe["failureThreshold"] == math.ceil(startup_budget_seconds(gib) / probe["periodSeconds"])
    res = json.loads((stack.dir / "resources.json").read_text())["resources"]
    deps = next(r for r in res if r["name"] == "coder-deploy")["dependencies"]
    assert sorted(d.rsplit("::", 1)[1] for d in deps) == sorted(f"weights-{j}" for j in jobs)


def test_the_gateway_exposes_each_adapter_as_a_model_on_the_coder_servers(stack):
    import yaml

    cfg = yaml.safe_load((stack.dir / "litellm" / "config.yaml").read_text())
    by_name = {e["model_name"]: e["litellm_params"] for e in cfg["model_list"]}
    for name in ("sql-helper", "review-bot"):
        assert by_name[name]["model"] == f"hosted_vllm/{name}"
        assert by_name[name]["api_base"].startswith("http://coder.strait-serving.svc.cluster.local:")
        assert by_name[name]["api_key"] == "os.environ/VLLM_API_KEY_CODER"
