"""Keda and QueueAutoscaler under mocks: the pinned chart with hardened values in a restricted, default-deny
namespace; the flows KEDA needs and nothing else; one ScaledObject per model server that waits for KEDA's CRDs;
and the transform that leaves spec.replicas to the HPA."""
import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.k8s.keda import (
    CONTROL_PLANE_PORT,
    BusinessHours,
    Keda,
    KedaArgs,
    QueueAutoscaler,
    QueueAutoscalerArgs,
    autoscaler_args,
    replicas_owned_by_autoscaler,
    scaling_spec,
)
from strait.catalog.charts import load_charts
from strait.config.sections import QueueAutoscalingConfig
from strait.render.netpol import Allow, cidr_peer, tcp
from tests.helpers import by_name, of_type

PIN = load_charts()["keda"]
API = Allow((cidr_peer("10.40.0.0/16"), cidr_peer("172.20.0.0/16")), tcp(443), "the Kubernetes API server")
WEBHOOK = Allow((cidr_peer("10.40.0.0/16"),), tcp(10250), "API server -> admission webhook")


def _keda_args(**kw) -> KedaArgs:
    return KedaArgs(**{**dict(chart=PIN, api_server_egress=API, webhook_ingress=WEBHOOK,
                              monitoring_namespace="strait-monitoring"), **kw})


def _so_args(keda=None, **kw) -> QueueAutoscalerArgs:
    base = dict(namespace="strait-serving", deployment="qwen7b", engine="vllm", served_model_name="qwen7b",
                prometheus_address="http://prometheus-operated.strait-monitoring.svc:9090", max_replicas=4,
                cold_start_seconds=420, business_hours=BusinessHours(timezone="Asia/Jakarta"), keda=keda)
    return QueueAutoscalerArgs(**{**base, **kw})


def _run(build):
    @pulumi.runtime.test
    def inner():
        p = k8s.Provider("k8s", kubeconfig="{}")
        return build(pulumi.ResourceOptions(providers={"kubernetes": p}))
    inner()


def test_keda_installs_the_pinned_chart_in_a_restricted_default_deny_namespace(monitor):
    _run(lambda o: Keda("keda", _keda_args(), opts=o).urn)
    (rel,) = of_type(monitor, "kubernetes:helm.sh/v3:Release")
    assert (rel.inputs["chart"], rel.inputs["version"], rel.inputs["namespace"]) == ("keda", "2.21.1", "keda")
    assert rel.inputs["repositoryOpts"]["repo"] == "https://kedacore.github.io/charts"
    ns = by_name(monitor, "keda-ns")
    assert ns.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    names = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"])
             for r in of_type(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert names == {("keda", "default-deny"), ("keda", "allow-dns"), ("keda", "keda-operator"),
                     ("keda", "keda-metrics-apiserver"), ("keda", "keda-admission-webhooks"),
                     ("strait-monitoring", "allow-keda-queries")}
    # The release waits for its namespace and every policy, so KEDA's first calls are not dropped.
    netpol_urns = {r.urn for r in of_type(monitor, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
                   if r.parent == by_name(monitor, "keda").urn}
    assert ns.urn in rel.dependencies and netpol_urns <= set(rel.dependencies)


def test_chart_values_are_hardened(monitor):
    _run(lambda o: Keda("keda", _keda_args(), opts=o).urn)
    (rel,) = of_type(monitor, "kubernetes:helm.sh/v3:Release")
    v = rel.inputs["values"]
    for part in ("operator", "metricServer", "webhooks"):
        pod, c = v["podSecurityContext"][part], v["securityContext"][part]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] >= 10000
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
        assert c == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}
        res = v["resources"][part]
        assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    assert v["rbac"] == {"enabledCustomScaledRefKinds": False, "scaledRefKinds": []}
    assert v["service"]["portHttpsTarget"] == v["webhooks"]["port"] == CONTROL_PLANE_PORT == 10250


def test_a_chart_that_is_not_kedas_is_refused():
    other = load_charts()["cluster-autoscaler"]
    with pytest.raises(ValueError, match="is not KEDA's"):
        _run(lambda o: Keda("keda", _keda_args(chart=other), opts=o).urn)


def test_one_scaled_object_per_server_waits_for_kedas_release(monitor):
    def build(o):
        keda = Keda("keda", _keda_args(), opts=o)
        QueueAutoscaler("qwen7b", _so_args(keda), opts=o)
        QueueAutoscaler("r1", _so_args(keda, deployment="r1", engine="sglang", served_model_name="r1"), opts=o)
        return keda.urn
    _run(build)
    sos = of_type(monitor, "kubernetes:keda.sh/v1alpha1:ScaledObject")
    assert sorted(r.inputs["metadata"]["name"] for r in sos) == ["qwen7b", "r1"]
    (rel,) = of_type(monitor, "kubernetes:helm.sh/v3:Release")
    for so in sos:
        assert rel.urn in so.dependencies
        assert so.parent == by_name(monitor, so.inputs["metadata"]["name"]).urn
        assert "::k8s::" in so.provider
        spec = so.inputs["spec"]
        assert spec["scaleTargetRef"]["name"] == so.inputs["metadata"]["name"]
        assert spec["minReplicaCount"] >= 1
        assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
    queries = {so.inputs["metadata"]["name"]: so.inputs["spec"]["triggers"][0]["metadata"]["query"] for so in sos}
    assert queries["qwen7b"].startswith("sum(vllm:num_requests_waiting{")
    assert queries["r1"].startswith("sum(sglang:num_queue_reqs{")


def test_bad_autoscaler_input_fails_before_any_child_exists(monitor):
    with pytest.raises(ValueError, match="QueueAutoscaler qwen7b: .*timezone 'Asia/Jakart'"):
        _run(lambda o: QueueAutoscaler("qwen7b", _so_args(
            business_hours=BusinessHours(timezone="Asia/Jakart")), opts=o).urn)
    assert of_type(monitor, "kubernetes:keda.sh/v1alpha1:ScaledObject") == []


def test_replicas_are_left_to_the_hpa():
    opts = pulumi.ResourceOptions(ignore_changes=["metadata.annotations"])
    deploy = pulumi.ResourceTransformArgs(custom=True, type_="kubernetes:apps/v1:Deployment", name="qwen7b-deploy",
                                          props={"spec": {"replicas": 1}}, opts=opts)
    out = replicas_owned_by_autoscaler(deploy)
    assert out.opts.ignore_changes == ["metadata.annotations", "spec.replicas"]
    assert out.props == {"spec": {"replicas": 1}}
    svc = pulumi.ResourceTransformArgs(custom=True, type_="kubernetes:core/v1:Service", name="qwen7b-svc", props={},
                                       opts=opts)
    assert replicas_owned_by_autoscaler(svc) is None


def test_args_from_the_typed_config_section():
    section = QueueAutoscalingConfig.model_validate({
        "models": {"qwen7b": {"max_replicas": 4, "queue_per_replica": 2, "business_hours_replicas": 3}},
        "business_hours": {"timezone": "Asia/Jakarta", "start": "08:00", "days": ["mon", "sat"]},
        "node_provision_seconds": 300})
    common = dict(engine="vllm", served_model_name="qwen7b", namespace="strait-serving", deployment="qwen7b",
                  cold_start_seconds=600, prometheus_address="http://p:9090")
    assert autoscaler_args("r1", section, **common) is None  # not autoscaled: fixed replicas
    assert autoscaler_args("qwen7b", None, **common) is None
    spec = scaling_spec("qwen7b", autoscaler_args("qwen7b", section, **common))
    assert (spec.min_replicas, spec.max_replicas, spec.queue_per_replica) == (1, 4, 2)
    # lead: 600 + 300 + 60 s = 16 min before 08:00 on Monday and Saturday
    assert (spec.window.timezone, spec.window.start, spec.window.end, spec.window.desired_replicas) == \
        ("Asia/Jakarta", "44 7 * * 1,6", "0 18 * * 1,6", 3)
