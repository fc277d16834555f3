"""Phase 2 (scale): both stacks plan with KEDA on every model server, spot-first scheduling with an on-demand
fallback of the same GPU, graceful drain, and a cost report with the spot and the on-demand figures."""
from __future__ import annotations

import ast
import json

import pytest
import yaml

from components.k8s.spot_fallback import SPOT_WEIGHT, spot_first_scheduling
from components.platform import GpuPool
from strait.gpu_labels import CAPACITY_LABEL, GPU_LABEL, POOL_LABEL, pool_labels
from tests.conftest import ROOT, STACKS, load_stack_raw

PHASE2 = [s for s in STACKS if s.startswith("phase2-")]
PROGRAM = ROOT / "blueprints" / "phase2_scale" / "__init__.py"


def pool(name, capacity, gpu="A10G", n=1, extra=None):
    return GpuPool(name=name, gpu_model=gpu, gpus_per_node=n, node_labels={**pool_labels(name, gpu, capacity),
                                                                            **(extra or {})},
                   capacity=capacity, min_nodes=0, max_nodes=2, node_vcpu=4, node_memory_gib=16)


POD = {"nodeSelector": {POOL_LABEL: "a-spot", GPU_LABEL: "A10G"},
       "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "x"}]}}}


def test_both_phase2_stacks_exist():
    assert {"phase2-jkt", "phase2-sg-gke"} <= set(PHASE2)


def test_spot_first_requires_the_pools_and_prefers_spot():
    out = spot_first_scheduling(POD, [pool("a-spot", "spot"), pool("a-od", "on_demand")])
    assert out["nodeSelector"] == {GPU_LABEL: "A10G"}
    na = out["affinity"]["nodeAffinity"]
    [term] = na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": POOL_LABEL, "operator": "In", "values": ["a-od", "a-spot"]}]
    [pref] = na["preferredDuringSchedulingIgnoredDuringExecution"]
    assert pref == {"weight": SPOT_WEIGHT, "preference": {"matchExpressions": [
        {"key": CAPACITY_LABEL, "operator": "In", "values": ["spot"]}]}}
    assert out["affinity"]["podAntiAffinity"] == POD["affinity"]["podAntiAffinity"]  # one replica per node stays
    assert POD["nodeSelector"][POOL_LABEL] == "a-spot"  # the input is not changed


def test_spot_first_selects_a_label_both_pools_share():
    cc = {"cloud.google.com/compute-class": "strait-a10g-spot-first"}
    out = spot_first_scheduling(POD, [pool("a-spot", "spot", extra=cc), pool("a-od", "on_demand", extra=cc)])
    assert out["nodeSelector"] == {GPU_LABEL: "A10G", **cc}


@pytest.mark.parametrize("pools, fragment", [
    ([pool("a-spot", "spot")], "needs a spot pool and an on-demand pool"),
    ([pool("a-spot", "spot"), pool("b-spot", "spot")], "must include a spot and an on-demand pool"),
    ([pool("a-spot", "spot"), pool("a-od", "on_demand", gpu="L4")], "same GPUs per node"),
    ([pool("a-spot", "spot"), pool("a-od", "on_demand", n=4)], "same GPUs per node"),
])
def test_spot_first_refuses_pools_that_cannot_stand_in(pools, fragment):
    with pytest.raises(ValueError, match=fragment):
        spot_first_scheduling(POD, pools)


def test_fallback_config_errors_name_field_value_and_fix():
    from pydantic import ValidationError

    from blueprints.phase2_scale.config import Phase2Config

    raw = load_stack_raw("phase2-jkt")
    raw["on_demand_fallback"] = {"qwen7b": "a10gx4-od", "nope": "a10g-od", "qwen72b": "a10g-reason"}
    with pytest.raises(ValidationError) as exc:
        Phase2Config.model_validate(raw)
    issues = [i for e in exc.value.errors() for i in (e.get("ctx") or {}).get("issues", [])]
    text = "\n".join(f"{i.path} = {i.value!r}: {i.problem}. Fix: {i.fix}" for i in issues)
    assert "on_demand_fallback.qwen7b" in text and "different GPUs per node" in text
    assert "on_demand_fallback.nope" in text and "not a model of this stack" in text
    assert "a10g-reason is spot" in text and "capacity: on_demand" in text


def test_program_is_small_and_imports_no_other_blueprint():
    assert len(PROGRAM.read_text().splitlines()) <= 150
    for path in sorted((ROOT / "blueprints" / "phase2_scale").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [a.name for a in node.names] if isinstance(node, ast.Import) else []
            assert not [m for m in mods if m.startswith("blueprints.phase1")], f"{path.name} imports {mods}"


def _by_kind(planned, stack, kind):
    return {m["metadata"]["name"]: m for _, m in planned[stack].manifests() if m["kind"] == kind}


@pytest.mark.parametrize("stack", PHASE2)
def test_every_model_server_has_a_queue_autoscaler_and_starts_at_its_standby(planned, stack):
    cfg = load_stack_raw(stack)
    scaled = _by_kind(planned, stack, "ScaledObject")
    deploys = _by_kind(planned, stack, "Deployment")
    assert set(cfg["queue_autoscaling"]["models"]) == set(cfg["models"]) == set(scaled)
    for key, a in cfg["queue_autoscaling"]["models"].items():
        so = scaled[key]["spec"]
        assert so["scaleTargetRef"]["name"] == key and so["minReplicaCount"] == a["min_replicas"] >= 1
        assert so["maxReplicaCount"] == a["max_replicas"]
        kinds = {t["type"] for t in so["triggers"]}
        assert kinds == {"prometheus", "cron"}, kinds
        assert deploys[key]["spec"]["replicas"] == a["min_replicas"]
    assert _by_kind(planned, stack, "Namespace").get("keda") is not None


@pytest.mark.parametrize("stack", PHASE2)
def test_spot_first_with_on_demand_fallback_as_rendered(planned, stack):
    cfg = load_stack_raw(stack)
    deploys = _by_kind(planned, stack, "Deployment")
    pdbs = _by_kind(planned, stack, "PodDisruptionBudget")
    assert cfg["on_demand_fallback"], "a phase-2 stack shows the spot -> on-demand fallback"
    for key, m in cfg["models"].items():
        pod = deploys[key]["spec"]["template"]["spec"]
        fb = cfg["on_demand_fallback"].get(key)
        if fb is None:
            assert pod["nodeSelector"][POOL_LABEL] == m["pool"]
            continue
        assert cfg["gpu_pools"][m["pool"]]["capacity"] == "spot" and cfg["gpu_pools"][fb]["capacity"] == "on_demand"
        assert POOL_LABEL not in pod["nodeSelector"] and pod["nodeSelector"][GPU_LABEL]  # same GPU, required
        na = pod["affinity"]["nodeAffinity"]
        [term] = na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        assert term["matchExpressions"] == [{"key": POOL_LABEL, "operator": "In", "values": sorted([m["pool"], fb])}]
        [pref] = na["preferredDuringSchedulingIgnoredDuringExecution"]
        assert pref["weight"] == 100 and pref["preference"]["matchExpressions"][0]["values"] == ["spot"]
        # A spot reclaim drains gracefully: stop taking work, let the engine finish, within the grace period.
        c = pod["containers"][0]
        assert c["lifecycle"]["preStop"]["sleep"]["seconds"] > 0
        if c["name"] == "vllm":
            drain = int(c["args"][c["args"].index("--shutdown-timeout") + 1])
            assert pod["terminationGracePeriodSeconds"] > drain + c["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert pdbs[key]["spec"]["maxUnavailable"] == 1 or pdbs[key]["spec"].get("minAvailable") is not None


@pytest.mark.parametrize("stack", PHASE2)
def test_the_node_autoscaler_grows_spot_before_on_demand(planned, stack):
    cfg = load_stack_raw(stack)
    if cfg.get("cloud") == "gcp":
        classes = _by_kind(planned, stack, "ComputeClass")
        deploys = _by_kind(planned, stack, "Deployment")
        for key, fb in cfg["on_demand_fallback"].items():
            cls = deploys[key]["spec"]["template"]["spec"]["nodeSelector"]["cloud.google.com/compute-class"]
            spot, od = classes[cls]["spec"]["priorities"]
            assert any(cfg["models"][key]["pool"] in n for n in spot["nodepools"])
            assert any(fb in n for n in od["nodepools"])
        return
    [cm] = [m for m in _by_kind(planned, stack, "ConfigMap").values()
            if m["metadata"]["name"] == "cluster-autoscaler-priority-expander"]
    prios = yaml.safe_load(cm["data"]["priorities"])
    rank = {rx: p for p, rxs in prios.items() for rx in rxs}
    for key, fb in cfg["on_demand_fallback"].items():
        [spot] = [p for rx, p in rank.items() if f"-{cfg['models'][key]['pool']}-[0-9a-f]" in rx]
        [od] = [p for rx, p in rank.items() if f"-{fb}-[0-9a-f]" in rx]
        assert spot > od, (key, prios)


@pytest.mark.parametrize("stack", PHASE2)
def test_cost_report_shows_spot_expected_and_on_demand_worst(planned, stack):
    cfg = load_stack_raw(stack)
    cost = json.loads((planned[stack].dir / "cost.json").read_text())
    serving = {s["resource"].removesuffix("-deploy"): s for s in cost["serving"]}
    for key in cfg["on_demand_fallback"]:
        s = serving[key]
        assert s["usd_per_million_tokens"] and s["usd_per_million_tokens_worst"]
        assert s["hourly_usd_per_replica"] < s["hourly_usd_per_replica_worst"]
        assert s["usd_per_million_tokens"] < s["usd_per_million_tokens_worst"]
    assert cost["totalMonthlyCost"] < cost["totalMonthlyCostMax"]


@pytest.mark.parametrize("stack", PHASE2)
def test_plan_is_deterministic(tmp_path, stack):
    from tests.conftest import run_cli

    outs = []
    for i in (1, 2):
        proc = run_cli("plan", "--stack", stack, "--out", str(tmp_path / str(i)))
        assert proc.returncode == 0, proc.stderr
        outs.append({p.relative_to(tmp_path / str(i)): p.read_bytes()
                     for p in sorted((tmp_path / str(i)).rglob("*")) if p.is_file()})
    assert outs[0].keys() == outs[1].keys()
    assert [k for k in outs[0] if outs[0][k] != outs[1][k]] == []


# --- the KEDA policy sees a spot-first server's pool -------------------------------------------------------------
def _policy_case(max_replicas: int) -> list[str]:
    import datetime as dt

    from policies.rules import Ctx
    from strait.catalog import load_catalog
    from tests.autoscaling.policy_cases import scaled_object
    from tests.policies.builders import deployment, node_group
    from tests.policies.test_rules import _run

    def ng(name, capacity, max_size):
        r = node_group(name=f"{name}-ng", capacity=capacity, max_size=max_size)
        r.props["labels"] = {POOL_LABEL: name, GPU_LABEL: "T4"}
        return r

    dep = deployment()
    tpl = dep.props["spec"]["template"]
    tpl["spec"] = spot_first_scheduling(tpl["spec"], [pool("t4-spot", "spot", gpu="T4", n=4),
                                                      pool("t4-od", "on_demand", gpu="T4", n=4)])
    resources = [ng("t4-spot", "SPOT", 2), ng("t4-od", "ON_DEMAND", 1), dep, scaled_object(max_replicas=max_replicas)]
    ctx = Ctx(catalog=load_catalog(), today=dt.date(2026, 11, 23))
    return _run("strait-keda-max-within-pool", resources, {}, ctx)


def test_keda_policy_counts_a_spot_first_server_against_its_spot_pool():
    assert _policy_case(2) == []
    [msg] = _policy_case(3)
    assert "maxReplicaCount 3 needs 3 nodes" in msg and "pool t4-spot-ng has at most 2" in msg


# --- the vLLM router in front of every server that can run more than one replica --------------------------------
def _routed(cfg: dict) -> set[str]:
    scaled = cfg.get("queue_autoscaling", {}).get("models", {})
    return {k for k, m in cfg["models"].items() if m.get("router") is not None
            or (scaled[k]["max_replicas"] if k in scaled else m.get("replicas", 1)) > 1}


@pytest.mark.parametrize("stack", PHASE2)
def test_multi_replica_models_sit_behind_the_router(planned, stack):
    """The gateway's api_base for a routed model is its router's Service, it forwards the tier's x-* headers
    (x-session-id), the router discovers exactly that server's pods, and queue-aware overflow still reads the
    engines' own /metrics, not the router's."""
    from strait.render.litellm import key_env_for

    cfg, out = load_stack_raw(stack), planned[stack].dir
    routed = _routed(cfg)
    assert routed, f"{stack} has no model with more than one replica"
    litellm = yaml.safe_load((out / "litellm" / "config.yaml").read_text())
    by_env = {key_env_for(k): k for k in cfg["models"]}
    forwarded, seen = set(), set()
    for d in litellm["model_list"]:
        key = by_env.get(d["litellm_params"].get("api_key", "").removeprefix("os.environ/"))
        if key is None:
            continue
        seen.add(key)
        host = f"{key}-router" if key in routed else key
        assert d["litellm_params"]["api_base"] == f"http://{host}.strait-serving.svc.cluster.local:8000/v1"
        if key in routed:
            forwarded.add(d["model_name"])
    assert routed <= seen
    assert sorted(litellm["litellm_settings"]["model_group_settings"]["forward_client_headers_to_llm_api"]) == \
        sorted(forwarded)
    deploys, services = _by_kind(planned, stack, "Deployment"), _by_kind(planned, stack, "Service")
    for key in routed:
        router = deploys[f"{key}-router"]["spec"]["template"]["spec"]["containers"][0]["args"]
        sel = deploys[key]["spec"]["selector"]["matchLabels"]
        i = router.index("--selector")
        assert sorted(router[i + 1:i + 1 + len(sel)]) == sorted(f"{k}={v}" for k, v in sel.items())
        assert router[router.index("--service-discovery-namespace") + 1] == "strait-serving"
        assert f"{key}-router" in services
    overflow = json.loads((out / "litellm" / "strait_routing.json").read_text())["overflow"]["tiers"]
    for rule in overflow.values():
        assert not [u for u in rule["metrics_urls"] if "-router." in u], rule
    assert planned[stack].outputs["router_urls"] == {
        k: f"http://{k}-router.strait-serving.svc.cluster.local:8000/v1" for k in sorted(routed)}
