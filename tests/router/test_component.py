"""VllmRouter under mocks: what it renders, judged by kubernetes-validate (strict), the prometheus-operator CRD
model, Checkov, and the router binary's own parser (the Deployment's argv)."""
from __future__ import annotations

import json
import subprocess

import kubernetes_validate
import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from components.k8s.vllm_router import VllmRouter, VllmRouterArgs
from strait.catalog import load_catalog
from strait.plan.artefacts import is_k8s_object, manifest_of
from strait.render.netpol import Allow, cidr_peer, tcp
from strait.render.router import PdSpec, Prefill, RouterPolicy
from tests.conftest import ROOT
from tests.helpers import by_name
from tests.observability.test_custom_resources import check_custom_resource

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
API = Allow((cidr_peer("10.40.0.0/16"),), tcp(443), "the Kubernetes API server")
SERVER_SEL = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "qwen7b"}
K8S_VERSION = "1.35.0"


def _args(**kw) -> VllmRouterArgs:
    cat = load_catalog()
    base = dict(namespace="strait-serving", image=cat.image("vllm-router"), version=cat.images["vllm-router"].version,
                model_selector=SERVER_SEL, model_port=8000, client_namespaces=("strait-gateway",),
                api_server_egress=API)
    return VllmRouterArgs(**{**base, **kw})


def _render(monitor, args: VllmRouterArgs) -> tuple[VllmRouter, list[dict]]:
    holder = {}

    @pulumi.runtime.test
    def inner():
        p = k8s.Provider("k8s", kubeconfig="{}")
        holder["r"] = VllmRouter("qwen7b-router", args, opts=pulumi.ResourceOptions(providers={"kubernetes": p}))
        return holder["r"].urn
    inner()
    return holder["r"], [manifest_of(r) for r in monitor.registrations if is_k8s_object(r)]


def _kind(objs, kind):
    return [m for m in objs if m["kind"] == kind]


def test_the_url_the_gateway_uses_and_the_objects(monitor):
    router, objs = _render(monitor, _args())
    assert router.url == "http://qwen7b-router.strait-serving.svc.cluster.local:8000/v1"
    assert sorted(m["kind"] for m in objs) == ["Deployment", "NetworkPolicy", "PodDisruptionBudget", "Role",
                                               "RoleBinding", "Service", "ServiceAccount", "ServiceMonitor"]
    comp = by_name(monitor, "qwen7b-router")
    assert comp.type == "strait:serving:VllmRouter"
    assert {r.parent for r in monitor.registrations if is_k8s_object(r)} == {comp.urn}


def test_every_object_validates_strictly(monitor):
    _, objs = _render(monitor, _args())
    for m in objs:
        if m["apiVersion"].startswith("monitoring.coreos.com/"):
            check_custom_resource(m)
        else:
            kubernetes_validate.validate(m, K8S_VERSION, strict=True)


def test_the_deployment_argv_is_accepted_by_the_routers_parser(monitor):
    from vllm_router.launch_router import parse_router_args

    _, objs = _render(monitor, _args(policy=RouterPolicy.CACHE_AWARE))
    (dep,) = _kind(objs, "Deployment")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["vllm-router"]
    parsed = parse_router_args(c["args"])
    parsed._validate_router_args()
    assert parsed.service_discovery and parsed.selector == SERVER_SEL
    assert parsed.service_discovery_namespace == "strait-serving" and parsed.service_discovery_port == 8000
    assert parsed.policy == "cache_aware" and parsed.host == parsed.prometheus_host == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert (parsed.port, parsed.prometheus_port) == (ports["http"], ports["metrics"])


def test_least_privilege_rbac_and_hardened_pod(monitor):
    _, objs = _render(monitor, _args())
    (role,) = _kind(objs, "Role")
    assert role["metadata"]["namespace"] == "strait-serving"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    (rb,) = _kind(objs, "RoleBinding")
    assert rb["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "qwen7b-router"}
    assert rb["subjects"] == [{"kind": "ServiceAccount", "name": "qwen7b-router", "namespace": "strait-serving"}]
    pod = _kind(objs, "Deployment")[0]["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"]
    assert c["readinessProbe"]["httpGet"]["path"] == "/readiness" and c["livenessProbe"]["httpGet"]["path"] == "/liveness"
    assert _kind(objs, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"] == 1


def test_without_discovery_no_rbac_and_no_token(monitor):
    pd = PdSpec(prefill=(Prefill(url="http://qwen-prefill:8000"),), decode_urls=("http://qwen-decode:8000",))
    _, objs = _render(monitor, _args(model_selector=None, pd=pd, api_server_egress=None,
                                     pd_server_key_secret="qwen-api-key"))
    assert not _kind(objs, "Role") and not _kind(objs, "RoleBinding")
    pod = _kind(objs, "Deployment")[0]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert "--vllm-pd-disaggregation" in pod["containers"][0]["args"]
    # The servers' key reaches the router from the Secret, by the variable its P/D mode reads.
    assert pod["containers"][0]["env"] == [{"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {
        "name": "qwen-api-key", "key": "VLLM_API_KEY"}}}]
    for m in objs:
        if not m["apiVersion"].startswith("monitoring.coreos.com/"):
            kubernetes_validate.validate(m, K8S_VERSION, strict=True)


def test_network_policy_gateway_in_router_to_replicas_and_api_prometheus_scrapes(monitor):
    router, objs = _render(monitor, _args())
    (np,) = _kind(objs, "NetworkPolicy")
    spec = np["spec"]
    assert spec["podSelector"]["matchLabels"] == router.selector
    assert spec["ingress"] == [
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "strait-gateway"}}}],
         "ports": [{"port": 8000, "protocol": "TCP"}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"strait.dev/metrics-scraper": "true"}},
                   "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}],
         "ports": [{"port": 29000, "protocol": "TCP"}]}]
    assert spec["egress"] == [
        {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "strait-serving"}},
                 "podSelector": {"matchLabels": dict(sorted(SERVER_SEL.items()))}}],
         "ports": [{"port": 8000, "protocol": "TCP"}]},
        {"to": [{"ipBlock": {"cidr": "10.40.0.0/16"}}], "ports": [{"port": 443, "protocol": "TCP"}]}]
    assert router.upstream_ingress.peers == ({"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "strait-serving"}}, "podSelector": {"matchLabels": router.selector}},)
    (sm,) = _kind(objs, "ServiceMonitor")
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert sm["spec"]["endpoints"][0]["port"] == "metrics"


@pytest.mark.parametrize("kw, message", [
    (dict(model_selector=None), "model_selector is required"),
    (dict(api_server_egress=None), "api_server_egress is required: discovery watches pods"),
    (dict(model_selector={"app": "bad value"}), "discovery.selector app='bad value' is not a valid Kubernetes label"),
    (dict(replicas=0), "replicas 0 must be at least 1"),
    (dict(pd_server_key_secret="k"), "pd_server_key_secret applies to P/D mode only"),
])
def test_bad_args_are_refused_before_any_child_exists(monitor, kw, message):
    with pytest.raises(ValueError, match=message):
        _render(monitor, _args(**kw))


def test_checkov_passes_the_router(monitor, tmp_path):
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    _, objs = _render(monitor, _args())
    for i, m in enumerate(objs):
        (tmp_path / f"{i:02d}-{m['kind'].lower()}.yaml").write_text(yaml.safe_dump(m, sort_keys=False))
    proc = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--config-file",
                           str(ROOT / ".checkov.yaml"), "--quiet", "--compact", "-o", "json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f"{r['check_id']} {r['resource']}: {r['check_name']}" for r in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 20
