"""Prefill/decode disaggregation in phase 3 (opt-in, off in every stack): a test-only copy of phase3-sg with one
model split into prefill and decode pools plans offline; both pools' argv pass vLLM's parser and build vLLM's own
KVTransferConfig, the router's argv passes the real router's parser, the new objects pass kubernetes-validate
(strict), and the NetworkPolicies admit the router and the KV transfer between the pools only."""
from __future__ import annotations

import json
import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.conftest import ROOT, STACKS, run_cli

PD_MODEL = "qwen7b-a"


def pd_stack() -> dict:
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.phase3-sg.yaml").read_text())
    cfg = doc["config"]
    cfg["strait:gpu_pools"]["t4-a"].update(min_size=2, desired_size=2, max_size=3)
    m = cfg["strait:models"][PD_MODEL]
    del m["replicas"]
    m["disaggregation"] = {"prefill_replicas": 1, "decode_replicas": 1}
    return doc


@pytest.fixture(scope="module")
def pd_plan(tmp_path_factory) -> Path:
    proj = tmp_path_factory.mktemp("pdproj")
    (proj / "stacks").mkdir()
    (proj / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for item in ("__main__.py", "blueprints", "components"):
        (proj / item).symlink_to(ROOT / item)
    (proj / "stacks" / "Pulumi.phase3-pd.yaml").write_text(yaml.safe_dump(pd_stack()))
    out = proj / "out"
    proc = run_cli("plan", "--stack", "phase3-pd", "--project-dir", str(proj), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / "phase3-pd"


def manifests(plan: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted((plan / "manifests").rglob("*.yaml"))]


def named(plan: Path, kind: str, name: str) -> dict:
    [doc] = [d for d in manifests(plan) if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def test_no_stack_turns_it_on():
    for stack in STACKS:
        models = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"].get(
            "strait:models", {})
        assert not any("disaggregation" in m for m in models.values()), stack


def test_the_pools_argv_pass_vllms_parser_and_build_its_kv_transfer_config(pd_plan):
    from tests.render.test_vllm_parser import judge, kv_judge
    items = []
    for role in ("prefill", "decode"):
        [c] = named(pd_plan, "Deployment", f"{PD_MODEL}-{role}")["spec"]["template"]["spec"]["containers"]
        assert c["command"] == ["vllm", "serve"]
        items.append({"id": role, "argv": c["args"]})
    parsed = judge([{**it, "engine": "vllm"} for it in items])
    assert {k: r["error"] for k, r in parsed.items() if not r["ok"]} == {}
    built = kv_judge(items)
    assert {k: r["error"] for k, r in built.items() if not r["ok"]} == {}
    assert built["prefill"]["kv_role"] == "kv_producer" and built["decode"]["kv_role"] == "kv_consumer"
    assert {r["kv_connector"] for r in built.values()} == {"NixlConnector"}


def test_the_gateway_calls_the_router_in_pd_mode(pd_plan):
    router = named(pd_plan, "Deployment", f"{PD_MODEL}-router")
    [c] = router["spec"]["template"]["spec"]["containers"]
    args = c["args"]
    assert "--vllm-pd-disaggregation" in args and args[args.index("--kv-connector") + 1] == "nixl"
    assert any(e["name"] == "OPENAI_API_KEY" and e["valueFrom"]["secretKeyRef"]["name"] == f"{PD_MODEL}-prefill-api-key"
               for e in c.get("env", []))
    from vllm_router.launch_router import parse_router_args  # the pinned router's own parser and checks
    parsed = parse_router_args(args)
    parsed._validate_router_args()
    assert parsed.vllm_pd_disaggregation and parsed.kv_connector == "nixl"
    gw = json.dumps([d for d in manifests(pd_plan) if d["kind"] in ("ConfigMap", "Secret")
                     and d["metadata"].get("namespace") == "strait-gateway"])
    assert f"{PD_MODEL}-router.strait-serving.svc.cluster.local" in gw
    assert f"http://{PD_MODEL}.strait-serving" not in gw
    assert not [d for d in manifests(pd_plan) if d["kind"] == "Deployment" and d["metadata"]["name"] == PD_MODEL]


def test_the_pools_admit_the_router_and_each_other_only(pd_plan):
    for role, other in (("prefill", "decode"), ("decode", "prefill")):
        pol = named(pd_plan, "NetworkPolicy", f"{PD_MODEL}-{role}")["spec"]
        assert not [p for r in pol["ingress"] for p in r["from"] if "namespaceSelector" in p and "podSelector" not in p
                    and p["namespaceSelector"]["matchLabels"].get("kubernetes.io/metadata.name") == "strait-gateway"]
        peers = [p.get("podSelector", {}).get("matchLabels", {}) for r in pol["ingress"] for p in r["from"]]
        assert {"app.kubernetes.io/instance": f"{PD_MODEL}-router", "app.kubernetes.io/name": "vllm-router"}.items() \
            <= next(p for p in peers if p.get("app.kubernetes.io/name") == "vllm-router").items()
        assert any(p.get("app.kubernetes.io/instance") == f"{PD_MODEL}-{other}" for p in peers)
        out = [p.get("podSelector", {}).get("matchLabels", {}) for r in pol["egress"] for p in r.get("to", [])]
        assert any(p.get("app.kubernetes.io/instance") == f"{PD_MODEL}-{other}" for p in out)


def test_the_new_objects_pass_kubernetes_validate_strict(pd_plan):
    docs = [d for d in manifests(pd_plan) if d["metadata"]["name"].startswith(f"{PD_MODEL}-")]
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "NetworkPolicy", "PodDisruptionBudget"}
    version = str(pd_stack()["config"].get("strait:cluster", {}).get("kubernetes_version", "1.35"))
    for d in docs:
        try:
            kubernetes_validate.validate(d, f"{version}.0", strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{d['kind']}/{d['metadata']['name']}: {exc.message} at {list(exc.path)}")


BASE = {"model": "qwen2.5-7b-instruct", "quantization": "awq", "pool": "t4-a", "max_model_len": 8192}


@pytest.mark.parametrize("extra, message", [
    ({"engine": "sglang"}, "engine 'sglang' is not supported; set engine: vllm"),
    ({"nodes": 2}, "nodes 2 is not supported"),
    ({"replicas": 3}, "replicas 3 must equal disaggregation.prefill_replicas + decode_replicas (2)"),
])
def test_bad_disaggregation_is_refused_with_the_fix(extra, message):
    from blueprints.phase3_prod.config import Phase3ModelConfig
    with pytest.raises(ValueError, match=re.escape(message)):
        Phase3ModelConfig(**BASE, **extra, disaggregation={"prefill_replicas": 1, "decode_replicas": 1})
    for bad in ({"prefill_replicas": 0, "decode_replicas": 1}, {"prefill_replicas": 1},
                {"prefill_replicas": 1, "decode_replicas": 1, "connector": "p2pnccl"}):
        with pytest.raises(ValueError):
            Phase3ModelConfig(**BASE, disaggregation=bad)
    m = Phase3ModelConfig(**BASE, disaggregation={"prefill_replicas": 2, "decode_replicas": 3})
    assert m.replicas == 5 and m.disaggregation.connector == "nixl"
    assert Phase3ModelConfig(**BASE).disaggregation is None


def test_a_stack_with_bad_disaggregation_exits_2_naming_the_field(tmp_path):
    doc = pd_stack()
    doc["config"]["strait:models"][PD_MODEL]["engine"] = "sglang"
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for item in ("__main__.py", "blueprints", "components"):
        (tmp_path / item).symlink_to(ROOT / item)
    (tmp_path / "stacks" / "Pulumi.pd-bad.yaml").write_text(yaml.safe_dump(doc))
    proc = run_cli("plan", "--stack", "pd-bad", "--project-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "disaggregation" in proc.stderr and "set engine: vllm" in proc.stderr and "Traceback" not in proc.stderr
