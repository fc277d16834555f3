"""Table-driven tests of every rule in policies/rules.py, on hand-built resource views."""
from __future__ import annotations

import pytest

from policies import harness
from policies.rules import BY_NAME, RULES
from tests.autoscaling.policy_cases import KEDA_CASES
from tests.policies.builders import config_map, deployment, eks_cluster, node_group, pdb, vllm_args

GOOD = [node_group(), deployment(), pdb(max_unavailable=1.0)]
SECRET_REF = {"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "VLLM_API_KEY"}}}

# (rule, resources, config overrides, substrings every message must contain (one list per expected violation))
CASES = {
    # --- GPU spend ----------------------------------------------------------------------------------------
    "spend: worst case within budget": ("strait-gpu-spend-monthly-cap", [node_group()], {"monthly_budget_usd": 12500}, []),
    "spend: worst case over budget": ("strait-gpu-spend-monthly-cap", [node_group()], {"monthly_budget_usd": 10000},
                                      [["$11,988/month", "exceeds the budget $10,000/month",
                                        "expected at desired size $7,992/month", "3 x g4dn.12xlarge x $5.474/h x 730 h"]]),
    "spend: no budget, nothing to cap": ("strait-gpu-spend-monthly-cap", [node_group(max_size=50)], {}, []),
    "spend: unknown spot price is a violation": ("strait-gpu-spend-monthly-cap", [node_group(capacity="SPOT")],
                                                  {"monthly_budget_usd": 1e9}, [["no catalog spot price for g4dn.12xlarge",
                                                                                 "not $0"]]),
    "spend: known spot price is used": ("strait-gpu-spend-monthly-cap",
                                        [node_group(types=("g4dn.xlarge",), capacity="SPOT", max_size=10)],
                                        {"monthly_budget_usd": 2000}, [["$2,215/month", "$0.303/h"]]),
    "spend: mixed types priced at the worst": ("strait-gpu-spend-monthly-cap",
                                               [node_group(types=("g4dn.xlarge", "g4dn.12xlarge"), max_size=1)],
                                               {"monthly_budget_usd": 1000}, [["$3,996/month"]]),
    "spend: CPU pools are not GPU spend": ("strait-gpu-spend-monthly-cap",
                                           [node_group(types=("m7i.large",), gpu=None, max_size=100)],
                                           {"monthly_budget_usd": 10}, []),
    "spend: custom hours per month": ("strait-gpu-spend-monthly-cap", [node_group(max_size=1)],
                                      {"monthly_budget_usd": 100, "hours_per_month": 10}, []),
    # --- speculative decoding (issue 9) ---------------------------------------------------------------------
    "ngram: on a model the catalog does not mark": ("strait-speculative-ngram-fit", [deployment(args=vllm_args() + [
        "--speculative-config", '{"method":"ngram","num_speculative_tokens":4}'])], {}, []),
    "ngram: on a reasoning model": ("strait-speculative-ngram-fit", [deployment(args=vllm_args(
        model="s3://b/models/casperhansen/deepseek-r1-distill-qwen-32b-awq/main") + [
        "--speculative-config", '{"method":"ngram","num_speculative_tokens":4}'])], {},
        [["deepseek-r1-distill-qwen-32b", "marks unsuitable", "A reasoning model"]]),
    # --- public API endpoint ------------------------------------------------------------------------------
    "endpoint: private": ("strait-eks-endpoint-public", [eks_cluster(public=False)], {}, []),
    "endpoint: public to an office /24 and a CI /32": ("strait-eks-endpoint-public",
                                                       [eks_cluster(cidrs=["203.0.113.0/24", "198.51.100.7/32"])], {}, []),
    "endpoint: public to the internet": ("strait-eks-endpoint-public", [eks_cluster(cidrs=["0.0.0.0/0"])], {},
                                         [["public to 0.0.0.0/0", "strait:cluster.api_public_cidrs"]]),
    "endpoint: EKS defaults (public, 0.0.0.0/0)": ("strait-eks-endpoint-public", [eks_cluster(public=None)], {},
                                                   [["public to 0.0.0.0/0"]]),
    "endpoint: only the wide range is named": ("strait-eks-endpoint-public",
                                               [eks_cluster(cidrs=["203.0.113.0/24", "100.0.0.0/8"])], {},
                                               [["public to 100.0.0.0/8 (wider than /16)"]]),
    "endpoint: a stricter limit": ("strait-eks-endpoint-public", [eks_cluster(cidrs=["203.0.113.0/24"])],
                                   {"min_prefix_length": 28}, [["203.0.113.0/24"]]),
    # --- price freshness ----------------------------------------------------------------------------------
    "fresh: stale system price warns": ("strait-gpu-price-fresh", [node_group(types=("m7i.large",), gpu=None)], {},
                                        [["dated 2025-10-01", "limit 180"]]),
    "fresh: recent price passes": ("strait-gpu-price-fresh", [node_group()], {}, []),
    "fresh: limit is configurable": ("strait-gpu-price-fresh", [node_group(types=("m7i.large",), gpu=None)],
                                     {"max_age_days": 1000}, []),
    # --- offered in region ----------------------------------------------------------------------------------
    "region: offered": ("strait-instance-offered-in-region", [node_group()], {}, []),
    "region: not offered": ("strait-instance-offered-in-region", [node_group(types=("g5.12xlarge",))], {},
                            [["g5.12xlarge is not offered in ap-southeast-1", "g4dn.12xlarge"]]),
    "region: offered elsewhere": ("strait-instance-offered-in-region",
                                  [node_group(types=("g5.12xlarge",), region="ap-southeast-3")], {}, []),
    "region: unknown type": ("strait-instance-offered-in-region", [node_group(types=("x9.huge",))], {},
                             [["x9.huge is not in the catalog"]]),
    "region: no provider region": ("strait-instance-offered-in-region", [node_group(region=None)], {},
                                   [["cannot tell the region"]]),
    # --- max-model-len fits ---------------------------------------------------------------------------------
    "fits: phase1 shape": ("strait-max-model-len-fits", [deployment()], {}, []),
    "fits: beyond native context": ("strait-max-model-len-fits", [deployment(args=vllm_args(mml=40000))], {},
                                    [["--max-model-len 40,000 exceeds the model's native context 32,768"]]),
    "fits: one sequence does not fit": ("strait-max-model-len-fits", [deployment(args=vllm_args(mml=32768, util=0.5))],
                                        {}, [["needs 2.00 GiB of KV cache", "on T4 x TP 4", "vLLM would refuse to start",
                                              "weights 4.50 GiB"]]),
    "fits: weights do not fit one T4": ("strait-max-model-len-fits", [deployment(args=vllm_args(tp=1), gpus=1)], {},
                                        [["18.0 GiB of weights do not fit"]]),
    "fits: fp8 KV on a bigger GPU": ("strait-max-model-len-fits",
                                     [deployment(args=vllm_args(mml=32768, kv="fp8", tp=1), gpus=1, gpu="L40S")], {}, []),
    "fits: unknown checkpoint": ("strait-max-model-len-fits", [deployment(args=vllm_args(model="s3://b/models/x/y/main"))],
                                 {}, [["names no checkpoint in the catalog"]]),
    "fits: unknown GPU": ("strait-max-model-len-fits", [deployment(gpu="Z100")], {}, [["'Z100' is not a catalog GPU"]]),
    "fits: not a vLLM workload": ("strait-max-model-len-fits", [deployment(command=("python", "app.py"))], {}, []),
    # --- KV concurrency ------------------------------------------------------------------------------------
    "concurrency: 32 long sequences do not fit": ("strait-kv-cache-concurrency", [deployment()], {},
                                                  [["holds 6 full-length sequences", "--max-num-seqs 32",
                                                    "lower --max-num-seqs to 6"]]),
    "concurrency: few sequences fit": ("strait-kv-cache-concurrency", [deployment(args=vllm_args(seqs=4))], {}, []),
    "concurrency: configured minimum": ("strait-kv-cache-concurrency", [deployment()], {"min_full_length_sequences": 6}, []),
    # --- max-model-len cap -----------------------------------------------------------------------------------
    "cap: phase cap respected": ("strait-max-model-len-cap", [node_group(), deployment(args=vllm_args(mml=32768))], {}, []),
    "cap: above phase cap": ("strait-max-model-len-cap", [node_group(), deployment(args=vllm_args(mml=65536))], {},
                             [["--max-model-len 65,536 is above phase phase1_mvp's cap of 32,768"]]),
    "cap: configured per phase": ("strait-max-model-len-cap", [node_group(), deployment()],
                                  {"caps_by_phase": {"phase1_mvp": 8192}}, [["cap of 8,192"]]),
    "cap: other phases get the default cap": ("strait-max-model-len-cap",
                                              [node_group(tags={"blueprint": "phase2"}), deployment(args=vllm_args(mml=65536))],
                                              {}, []),
    # --- GPU serving hygiene -------------------------------------------------------------------------------
    "hygiene: phase1 shape": ("strait-gpu-serving-hygiene", [deployment()], {}, []),
    "hygiene: no GPU limit": ("strait-gpu-serving-hygiene", [deployment(limits=False)], {},
                              [["sets no nvidia.com/gpu limit"]]),
    "hygiene: no toleration": ("strait-gpu-serving-hygiene", [deployment(tolerate=False)], {},
                               [["do not tolerate the nvidia.com/gpu NoSchedule taint"]]),
    "hygiene: no startup probe": ("strait-gpu-serving-hygiene", [deployment(startup=None)], {},
                                  [["no startupProbe", "at least 390 s"]]),
    "hygiene: startup budget too short for the weights": ("strait-gpu-serving-hygiene", [deployment(startup=(10, 10))], {},
                                                          [["allows 100 s", "needs about 390 s"]]),
    "hygiene: pinned to GPUs without requesting one": ("strait-gpu-serving-hygiene", [deployment(gpus=0)], {},
                                                       [["no container requests nvidia.com/gpu"]]),
    "hygiene: CPU workloads are out of scope": ("strait-gpu-serving-hygiene", [deployment(gpus=0, gpu=None, startup=None)],
                                                {}, []),
    "hygiene: GPU jobs need no startup probe": ("strait-gpu-serving-hygiene", [deployment(kind="Job", startup=None)], {}, []),
    # --- PDBs ----------------------------------------------------------------------------------------------
    "pdb: maxUnavailable 1": ("strait-pdb-allows-drain", GOOD, {}, []),
    "pdb: maxUnavailable 0": ("strait-pdb-allows-drain", [deployment(), pdb(max_unavailable=0.0)], {},
                              [["maxUnavailable 0.0 never allows an eviction"]]),
    "pdb: maxUnavailable 0%": ("strait-pdb-allows-drain", [deployment(), pdb(max_unavailable="0%")], {},
                               [["never allows an eviction"]]),
    "pdb: minAvailable equals replicas": ("strait-pdb-allows-drain", [deployment(replicas=1), pdb(min_available=1.0)], {},
                                          [["minAvailable 1.0 with 1 replica(s)", "use maxUnavailable: 1"]]),
    "pdb: minAvailable below replicas": ("strait-pdb-allows-drain", [deployment(replicas=3), pdb(min_available=2.0)], {}, []),
    "pdb: minAvailable 100%": ("strait-pdb-allows-drain", [deployment(), pdb(min_available="100%")], {},
                               [["minAvailable 100% blocks every drain"]]),
    # --- plaintext secrets ---------------------------------------------------------------------------------
    "secrets: env from a Secret": ("strait-no-plaintext-secrets", [deployment(env=[SECRET_REF, {"name": "HF_HUB_OFFLINE",
                                                                                                   "value": "1"}])], {}, []),
    "secrets: literal API key env": ("strait-no-plaintext-secrets",
                                     [deployment(env=[{"name": "VLLM_API_KEY", "value": "not-so-secret-123"}])], {},
                                     [["env VLLM_API_KEY carries a literal value"]]),
    "secrets: credential-shaped value under any name": ("strait-no-plaintext-secrets",
                                                        [deployment(env=[{"name": "X", "value": "sk-ant-" + "a" * 30}])],
                                                        {}, [["env X carries a literal value"]]),
    "secrets: key on the command line": ("strait-no-plaintext-secrets",
                                         [deployment(args=vllm_args() + ["--api-key", "abc"])], {},
                                         [["argument '--api-key' puts a credential on the command line"]]),
    "secrets: ConfigMap with env references": ("strait-no-plaintext-secrets",
                                               [config_map({"config.yaml": "general_settings:\n  master_key: "
                                                            "os.environ/LITELLM_MASTER_KEY\n  max_input_tokens: 16384\n"
                                                            "  chars_per_token: 4\n"})], {}, []),
    "secrets: ConfigMap with a literal key": ("strait-no-plaintext-secrets",
                                              [config_map({"config.yaml": "model_list:\n- litellm_params:\n"
                                                           "    api_key: my-literal-key-value\n"})], {},
                                              [["config.yaml", "api_key has a literal value"]]),
    "secrets: ConfigMap with a token": ("strait-no-plaintext-secrets", [config_map({"t": "hf_" + "x" * 30})], {},
                                        [["credential-shaped value"]]),
    "secrets: a Pulumi secret rendered into a ConfigMap": ("strait-no-plaintext-secrets", [config_map({"k": "[secret]"})],
                                                           {}, [["credential-shaped value"]]),
}

CASES |= KEDA_CASES  # KEDA's rules and autoscaled spend: tests/autoscaling/policy_cases.py

def _run(rule_name, resources, overrides, ctx):
    rule = BY_NAME[rule_name]
    props = {**harness.resolve_config()[rule_name][1], **overrides}
    if rule.scope == "stack":
        return [m for m, _ in rule.check(resources, props, ctx)]
    return [m for r in resources if rule.applies_to(r.type) for m in rule.check(r, props, ctx)]


@pytest.mark.parametrize("case", sorted(CASES))
def test_rule(case, ctx):
    rule_name, resources, overrides, expected = CASES[case]
    messages = _run(rule_name, resources, overrides, ctx)
    assert len(messages) == len(expected), messages
    for msg, subs in zip(messages, expected):
        for s in subs:
            assert s in msg, f"{s!r} not in {msg!r}"


def test_every_rule_has_cases_that_pass_and_fail():
    used = {}
    for rule_name, _, _, expected in CASES.values():
        used.setdefault(rule_name, set()).add(bool(expected))
    assert {r.name for r in RULES} == set(used)
    assert all(v == {True, False} for v in used.values()), used


def test_rule_metadata():
    for r in RULES:
        assert r.name.startswith("strait-") and r.name == r.name.lower()
        assert r.severity in ("low", "medium", "high", "critical")
        assert r.enforcement in ("advisory", "mandatory")
        assert r.description.endswith(".") and r.remediation
        for prop in r.config_schema.get("properties", {}).values():
            assert "default" in prop and prop.get("description")
