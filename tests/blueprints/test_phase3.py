"""Phase 3 (production): the three stacks plan with the largest model across nodes on a LeaderWorkerSet (its
argv judged by vLLM 0.33.0's parser and ParallelConfig as each pod expands it), reserved capacity in the node
pools and priced in the cost report, several endpoints per tier in the gateway, every server above batch, and
Alertmanager receivers with the SLO rules. The GKE cluster's firewall rule for the LWS webhook is judged under
Pulumi mocks."""
from __future__ import annotations

import ast
import json
import subprocess

import pytest
import yaml

from strait.render.vllm_multinode import expand, lws_env
from tests.conftest import ROOT, STACKS, load_stack_raw
from tests.render.test_vllm_parser import _stage_image_paths

PHASE3 = [s for s in STACKS if s.startswith("phase3-")]
JUDGE_PY = ROOT / ".venv-vllm" / "bin" / "python"
JUDGE = ROOT / "tests" / "multinode" / "parallel_judge.py"


def test_the_three_phase3_stacks_exist():
    assert {"phase3-sg", "phase3-jkt", "phase3-sg-gke"} <= set(PHASE3)


def test_the_blueprint_is_registered_small_and_cloud_free():
    from blueprints.phase3_prod.config import Phase3Config
    from blueprints.registry import BLUEPRINTS

    assert BLUEPRINTS["phase3_prod"].config is Phase3Config
    assert BLUEPRINTS["phase3_prod"].build == "blueprints.phase3_prod:build"
    program = ROOT / "blueprints" / "phase3_prod" / "__init__.py"
    assert len(program.read_text().splitlines()) < 150
    for path in sorted((ROOT / "blueprints" / "phase3_prod").glob("*.py")):
        mods = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                mods.add(node.module)
            elif isinstance(node, ast.Import):
                mods |= {a.name for a in node.names}
        # Cloud-free past the platform, and never another blueprint (shared wiring is in blueprints/shared).
        assert not {m for m in mods if m.startswith(("components.aws", "components.gcp", "pulumi_aws", "pulumi_gcp",
                                                     "blueprints.phase1", "blueprints.phase2"))}, path.name


def docs(planned, stack: str, kind: str) -> list[dict]:
    return [d for _, d in planned[stack].manifests() if d and d.get("kind") == kind]


def multinode_models(stack: str) -> dict[str, dict]:
    return {k: m for k, m in load_stack_raw(stack)["models"].items() if m.get("nodes", 1) > 1}


@pytest.mark.parametrize("stack", PHASE3)
def test_the_largest_model_runs_across_nodes_on_a_leaderworkerset(planned, stack):
    assert planned[stack].proc.returncode == 0, planned[stack].proc.stderr[-2000:]
    [(key, m)] = multinode_models(stack).items()
    [lws] = docs(planned, stack, "LeaderWorkerSet")
    assert lws["metadata"]["name"] == key
    spec = lws["spec"]
    assert spec["replicas"] == m.get("replicas", 1)
    assert spec["leaderWorkerTemplate"]["size"] == m["nodes"]
    assert spec["startupPolicy"] == "LeaderCreated"
    assert spec["leaderWorkerTemplate"]["restartPolicy"] == "RecreateGroupOnPodRestart"
    # Each group alone in one zone (LWS's webhook adds the affinity from this annotation).
    assert lws["metadata"]["annotations"]["leaderworkerset.sigs.k8s.io/exclusive-topology"] == \
        "topology.kubernetes.io/zone"
    # The controller from its pinned chart is in the plan.
    assert any(r["type"] == "kubernetes:helm.sh/v3:Release" and "lws" in r["name"] for r in planned[stack].resources)


@pytest.mark.parametrize("stack", PHASE3)
def test_every_node_argv_of_the_planned_group_passes_vllms_parser(planned, stack):
    """The planned leader and worker argv, expanded with what LWS injects into each pod, judged by vLLM."""
    if not JUDGE_PY.exists():
        pytest.fail("the vLLM judge venv is missing; run scripts/setup.sh --test")
    [(key, m)] = multinode_models(stack).items()
    [lws] = docs(planned, stack, "LeaderWorkerSet")
    lwt, ns = lws["spec"]["leaderWorkerTemplate"], lws["metadata"]["namespace"]
    argv = {rank: next(c for c in t["spec"]["containers"] if c["name"] == "vllm")["args"]
            for rank, t in ((0, lwt["leaderTemplate"]), (1, lwt["workerTemplate"]))}
    # The chat template is a file of the pinned image: a stand-in, as tests/render/test_vllm_parser.py does.
    items = [{"id": str(rank), "argv": _stage_image_paths(expand(argv[min(rank, 1)], lws_env(
        lws_name=key, namespace=ns, group_index=0, worker_index=rank, size=m["nodes"])))}
             for rank in range(m["nodes"])]
    proc = subprocess.run([str(JUDGE_PY), str(JUDGE)], input=json.dumps(items), capture_output=True, text=True,
                          timeout=600, env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    for v in json.loads(proc.stdout):
        rank = int(v["id"])
        assert v["check"]["ok"], (rank, v["check"]["error"])
        assert v["parallel_error"] is None, v["parallel_error"]
        p = v["parallel"]
        assert (p["backend"], p["nnodes_within_dp"], p["node_rank_within_dp"]) == ("mp", m["nodes"], rank)
        assert p["local_world_size"] == m["tensor_parallel_size"]
        assert p["world_size"] == m["tensor_parallel_size"] * m["nodes"]
        assert p["headless"] is (rank > 0)
        assert v["check"]["parsed"]["pipeline_parallel_size"] == m["nodes"]


@pytest.mark.parametrize("stack", PHASE3)
def test_every_model_server_runs_at_the_serving_priority(planned, stack):
    classes = {d["metadata"]["name"]: d for d in docs(planned, stack, "PriorityClass")}
    assert classes["strait-serving"]["value"] > classes["strait-batch"]["value"]
    assert classes["strait-batch"]["preemptionPolicy"] == "Never"
    templates = [d["spec"]["template"] for d in docs(planned, stack, "Deployment")
                 if d["metadata"]["namespace"] == "strait-serving"]
    for lws in docs(planned, stack, "LeaderWorkerSet"):
        templates += [lws["spec"]["leaderWorkerTemplate"][k] for k in ("leaderTemplate", "workerTemplate")]
    servers = load_stack_raw(stack)["models"]
    assert len(templates) == len(servers) + len(multinode_models(stack))
    assert {t["spec"].get("priorityClassName") for t in templates} == {"strait-serving"}
    # Nothing outside the model servers was given the class by the transformation.
    others = [d for d in docs(planned, stack, "Deployment") if d["metadata"]["namespace"] != "strait-serving"]
    assert all(d["spec"]["template"]["spec"].get("priorityClassName") != "strait-serving" for d in others)


@pytest.mark.parametrize("stack", PHASE3)
def test_a_tier_with_several_endpoints_gets_one_gateway_deployment_each(planned, stack):
    tiers = load_stack_raw(stack)["gateway"]["tiers"]
    multi = {t: v["models"] for t, v in tiers.items() if len(v.get("models", [])) > 1}
    assert multi, "a phase-3 stack serves at least one tier from several endpoints"
    config = yaml.safe_load((planned[stack].dir / "litellm" / "config.yaml").read_text())
    for tier, models in multi.items():
        bases = sorted(d["litellm_params"]["api_base"] for d in config["model_list"] if d["model_name"] == tier)
        assert bases == sorted(f"http://{k}.strait-serving.svc.cluster.local:8000/v1" for k in models)
    # Each single-node endpoint spreads its pods over zones.
    for d in docs(planned, stack, "Deployment"):
        if d["metadata"]["namespace"] == "strait-serving":
            keys = {c["topologyKey"] for c in d["spec"]["template"]["spec"].get("topologySpreadConstraints", [])}
            assert "topology.kubernetes.io/zone" in keys, d["metadata"]["name"]


@pytest.mark.parametrize("stack", PHASE3)
def test_reserved_nodes_are_in_the_pool_and_priced(planned, stack):
    raw = load_stack_raw(stack)
    [(pool, p)] = [(n, p) for n, p in raw["gpu_pools"].items() if p.get("reservation")]
    res = p["reservation"]
    cost = json.loads((planned[stack].dir / "cost.json").read_text())
    text = json.dumps(cost)
    assert f"{res['instance_count']} reserved" in text
    types = {r["type"] for r in planned[stack].resources}
    if raw.get("cloud", "aws") == "aws":
        [cr] = [r for r in planned[stack].resources if r["type"] == "aws:ec2/capacityReservation:CapacityReservation"]
        assert cr["inputs"]["availabilityZone"] == res["zone"]
        assert cr["inputs"]["instanceCount"] == res["instance_count"]
        assert cr["inputs"]["instanceMatchCriteria"] == "targeted"
        [ng] = [r for r in planned[stack].resources if r["type"] == "aws:eks/nodeGroup:NodeGroup"
                and r["name"].startswith(f"gpu-{pool}")]
        assert len(ng["inputs"]["subnetIds"]) == 1  # the reservation zone's subnet only
    else:
        assert "gcp:compute/reservation:Reservation" in types
        [np] = [r for r in planned[stack].resources if r["type"] == "gcp:container/nodePool:NodePool"
                and r["name"].startswith(f"gpu-{pool}")]
        assert np["inputs"]["nodeLocations"] == [res["zone"]]


@pytest.mark.parametrize("stack", PHASE3)
def test_alerts_reach_a_person_and_slo_rules_are_planned(planned, stack):
    a = load_stack_raw(stack)["observability"]["alerting"]
    assert a["pagerduty"] and a["slack_channel"] and a["slo_alerts"]
    [secret] = [d for d in docs(planned, stack, "Secret") if d["metadata"]["name"] == "alertmanager-receivers"]
    assert set(secret.get("stringData") or secret.get("data")) == {"pagerduty-routing-key", "slack-webhook-url"}
    [rule] = docs(planned, stack, "PrometheusRule")
    alerts = {r.get("alert") for g in rule["spec"]["groups"] for r in g["rules"]}
    assert {"StraitTTFTBudgetBurn", "StraitTierErrorBudgetBurn"} <= alerts
    release = json.dumps([r for r in planned[stack].resources if r["type"] == "kubernetes:helm.sh/v3:Release"
                          and "monitoring" in r["name"]])
    assert "pagerduty" in release and "offline-placeholder" not in release


def test_gke_opens_the_lws_webhook_port_from_the_control_plane(planned):
    raw = load_stack_raw("phase3-sg-gke")
    [fw] = [r for r in planned["phase3-sg-gke"].resources if r["type"] == "gcp:compute/firewall:Firewall"
            and r["name"].endswith("webhooks")]
    i = fw["inputs"]
    assert i["direction"] == "INGRESS"
    assert i["sourceRanges"] == [raw["gcp"].get("master_cidr", "172.16.0.0/28")]
    assert i["allows"] == [{"protocol": "tcp", "ports": ["9443"]}]
    assert len(i["targetServiceAccounts"]) == 1 and i["targetServiceAccounts"][0].endswith("-nodes@strait-prod.iam.gserviceaccount.com")
    # The LWS controller's policy admits exactly that range on 9443.
    [pol] = [d for d in docs(planned, "phase3-sg-gke", "NetworkPolicy") if d["metadata"]["name"] == "lws-controller"]
    peers = [(p.get("ipBlock", {}).get("cidr"), port.get("port")) for rule in pol["spec"]["ingress"]
             for p in rule.get("from", []) for port in rule.get("ports", [])]
    assert ("172.16.0.0/28", 9443) in peers


@pytest.mark.parametrize("stack", [s for s in STACKS if not s.startswith("phase3-")])
def test_stacks_without_a_multinode_model_open_no_webhook_port(planned, stack):
    assert not [r for r in planned[stack].resources if r["type"] == "gcp:compute/firewall:Firewall"
                and r["name"].endswith("webhooks")]
