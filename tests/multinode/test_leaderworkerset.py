"""The rendered LeaderWorkerSet: valid against LWS v0.10.0's own CRD schema (strict on unknown keys, as the API
server's strict field validation), its pod templates valid Kubernetes pods (kubernetes-validate, strict), and
the group semantics LWS needs (startup, restart, placement, probes on the leader only, EFA where applied)."""
from __future__ import annotations

import copy
import dataclasses
import functools
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from components.k8s.model_server import ServerSizing
from components.k8s.vllm_multinode import (
    EXCLUSIVE_TOPOLOGY,
    LWS_NAME_LABEL,
    WORKER_INDEX_LABEL,
    MultiNodeGroup,
    group_policies,
    render_leaderworkerset,
)
from components.platform import WeightSource
from strait.catalog.interconnect import EFA_RESOURCE, load_interconnect
from strait.gpu_labels import GPU_RESOURCE
from strait.render.vllm import VllmSpec
from strait.render.vllm_multinode import MultiNodeSpec
from tests.helm.render import strict_schema

CRD = Path(__file__).resolve().parents[1] / "data" / "lws" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"
K8S_VERSION = "1.35.0"
URI = "s3://cache/models/meta-llama/Llama-3.1-405B-Instruct-FP8/rev"
WEIGHTS = WeightSource(uri=URI, service_account="weights-reader",
                       wait_container={"name": "wait-for-weights", "image": "aws-cli", "command": ["aws", "s3api"],
                                       "args": ["head-object", "--bucket", "cache", "--key", "x/.strait-complete"]},
                       env=({"name": "AWS_REGION", "value": "ap-southeast-3"},))


@functools.lru_cache(maxsize=1)
def validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(strict_schema(version["schema"]["openAPIV3Schema"]))


def crd_errors(obj: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(obj)]


def group(**over) -> MultiNodeGroup:
    engine = VllmSpec(model=URI, served_model_name="llama-405b", max_model_len=32768, tensor_parallel_size=8,
                      kv_cache_dtype="fp8")
    base = dict(name="llama405b", namespace="strait-serving", spec=MultiNodeSpec(engine=engine, nodes=2),
                image="vllm/vllm-openai:v0.33.0", engine_version="0.33.0", pool="h100", gpu_model="H100",
                sizing=ServerSizing(cpu_request=144, memory_request_gib=1536, startup_timeout_seconds=2400),
                service_account="weights-reader", key_secret="llama405b-api-key", weights=WEIGHTS,
                interconnect=load_interconnect()["p5.48xlarge"])
    return MultiNodeGroup(**{**base, **over})


def test_the_object_passes_the_crd_schema_strictly():
    assert crd_errors(render_leaderworkerset(group())) == []
    assert crd_errors(render_leaderworkerset(group(groups=3, interconnect=None))) == []


@pytest.mark.parametrize("mutate, expected", [
    (lambda o: o["spec"]["leaderWorkerTemplate"].__setitem__("restartPolicy", "RecreateGroup"), "restartPolicy"),
    (lambda o: o["spec"].__setitem__("startupPolicy", "LeaderStarted"), "startupPolicy"),
    (lambda o: o["spec"]["leaderWorkerTemplate"].__setitem__("groupSize", 2), "groupSize"),
    (lambda o: o["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0].__setitem__("cmd", []),
     "cmd"),
])
def test_the_schema_check_catches(mutate, expected):
    obj = copy.deepcopy(render_leaderworkerset(group()))
    mutate(obj)
    assert any(expected in e for e in crd_errors(obj))


@pytest.mark.parametrize("role", ["leaderTemplate", "workerTemplate"])
def test_each_template_is_a_valid_pod(role):
    tmpl = render_leaderworkerset(group())["spec"]["leaderWorkerTemplate"][role]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", **tmpl["metadata"]}, "spec": tmpl["spec"]}
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)


def test_group_semantics():
    obj = render_leaderworkerset(group(groups=2))
    spec = obj["spec"]
    assert spec["replicas"] == 2
    assert spec["startupPolicy"] == "LeaderCreated"  # the leader's /health needs the workers: LeaderReady deadlocks
    lwt = spec["leaderWorkerTemplate"]
    assert lwt["size"] == 2 and lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
    assert obj["metadata"]["annotations"] == {EXCLUSIVE_TOPOLOGY: "topology.kubernetes.io/zone"}
    leader = lwt["leaderTemplate"]["spec"]["containers"][0]
    worker = lwt["workerTemplate"]["spec"]["containers"][0]
    assert {"startupProbe", "readinessProbe", "livenessProbe", "ports"} <= set(leader)
    assert not {"startupProbe", "readinessProbe", "livenessProbe", "ports"} & set(worker)
    # the startup budget covers the whole group's load
    assert leader["startupProbe"]["failureThreshold"] * leader["startupProbe"]["periodSeconds"] >= 2400
    assert "--headless" in worker["args"] and "--headless" not in leader["args"]
    for tmpl in (lwt["leaderTemplate"], lwt["workerTemplate"]):
        pod = tmpl["spec"]
        c = pod["containers"][0]
        assert c["resources"]["limits"][GPU_RESOURCE] == "8"
        assert c["resources"]["limits"][EFA_RESOURCE] == "32" == c["resources"]["requests"][EFA_RESOURCE]
        assert {"name": "FI_PROVIDER", "value": "efa"} in c["env"]
        assert pod["topologySpreadConstraints"] == []  # a group shares a zone; never spread it
        assert pod["initContainers"][0]["name"] == "wait-for-weights"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert tmpl["metadata"]["annotations"]["checksum/config"]


def test_no_efa_where_the_catalog_does_not_apply_it():
    a3 = render_leaderworkerset(group(interconnect=load_interconnect()["a3-highgpu-8g"], gpu_model="H100"))
    c = a3["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]
    assert EFA_RESOURCE not in c["resources"]["limits"]
    assert not [e for e in c["env"] if e["name"].startswith("FI_")]


def test_the_checksum_rolls_with_the_stage_count():
    a = render_leaderworkerset(group())
    b = render_leaderworkerset(group(spec=MultiNodeSpec(engine=group().spec.engine, nodes=3)))
    ann = lambda o: o["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["metadata"]["annotations"]  # noqa: E731
    assert ann(a) != ann(b)


def test_policies_open_the_leader_api_and_the_group_only():
    pols = group_policies(group(), client_namespaces=("strait-gateway",))
    api = pols["llama405b-api"]
    assert api["podSelector"]["matchLabels"][WORKER_INDEX_LABEL] == "0"
    assert [r["ports"] for r in api["ingress"]] == [[{"port": 8000, "protocol": "TCP"}]] * 2
    grp = pols["llama405b-group"]
    peer = {"podSelector": {"matchLabels": {LWS_NAME_LABEL: "llama405b"}}}
    assert grp["ingress"] == [{"from": [peer], "ports": [{"port": 1024, "protocol": "TCP", "endPort": 65535}]}]
    assert grp["egress"][0] == {"to": [peer], "ports": [{"port": 1024, "protocol": "TCP", "endPort": 65535}]}


def test_group_flows_through_the_policies():
    """The group's ranks reach each other (rendezvous, NCCL); the gateway reaches only the leader's API; other
    pods reach neither (tests/security/netpol_eval.py over the namespace baseline + the group's policies)."""
    from strait.render.netpol import namespace_baseline
    from tests.security.netpol_eval import Cluster, Pod, Policy, allowed

    g = group()
    obj = render_leaderworkerset(g)
    lt = obj["spec"]["leaderWorkerTemplate"]
    lws_labels = lambda i: {LWS_NAME_LABEL: g.name, WORKER_INDEX_LABEL: str(i)}  # noqa: E731 (what LWS adds)
    leader = Pod(name="l", namespace=g.namespace, labels={**lt["leaderTemplate"]["metadata"]["labels"], **lws_labels(0)})
    worker = Pod(name="w", namespace=g.namespace, labels={**lt["workerTemplate"]["metadata"]["labels"], **lws_labels(1)})
    other = Pod(name="o", namespace=g.namespace, labels={"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "small"})
    gw = Pod(name="gw", namespace="strait-gateway", labels={"app.kubernetes.io/name": "litellm"})
    policies = [Policy(n, ns, s) for ns in (g.namespace, "strait-gateway") for n, s in namespace_baseline().items()]
    policies += [Policy(n, g.namespace, s) for n, s in group_policies(g, ("strait-gateway",)).items()]
    policies.append(Policy("gw-out", "strait-gateway", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]}))
    policies.append(Policy("other-out", g.namespace, {"podSelector": {"matchLabels": {"app.kubernetes.io/instance": "small"}},
                                                      "policyTypes": ["Egress"], "egress": [{}]}))
    c = Cluster(namespaces={g.namespace: {}, "strait-gateway": {}}, policies=policies)
    assert allowed(c, worker, leader, 29501) and allowed(c, leader, worker, 40123) and allowed(c, worker, leader, 51000)
    assert allowed(c, gw, leader, 8000)
    assert not allowed(c, gw, worker, 8000) and not allowed(c, gw, leader, 29501)
    assert not allowed(c, other, leader, 29501) and not allowed(c, other, worker, 40123)


def test_group_sizing_budgets_one_stage_and_surges_only_with_a_spare_group():
    from components.k8s.vllm_multinode import group_sizing
    from components.platform import GpuPool
    from strait.config.checks import startup_budget_seconds

    pool = GpuPool(name="h100", gpu_model="H100-80GB", gpus_per_node=8, node_labels={}, capacity="on_demand",
                   min_nodes=2, max_nodes=3, node_vcpu=192, node_memory_gib=2048)
    s = group_sizing(pool, groups=1, nodes=2, weights_gib=400.0)
    assert s.startup_timeout_seconds == startup_budget_seconds(400.0 / 16) and s.max_surge == 0
    assert group_sizing(dataclasses.replace(pool, max_nodes=4), groups=1, nodes=2, weights_gib=400.0).max_surge == 1
    assert (s.cpu_request, s.memory_request_gib) == (144, 1536)
