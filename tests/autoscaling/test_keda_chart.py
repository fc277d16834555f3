"""The KEDA chart rendered by Helm itself (helm-python-sdk, Helm v4) with the values components/k8s/keda.py passes,
from the upstream source scripts/prepare-charts.py builds (STRAIT_CHARTS_DIR): what it installs is judged by
kubernetes-validate (strict) and the restricted Pod Security profile; the pods' real labels and ports are the ones
Strait's NetworkPolicies name, and the flows KEDA needs pass through those policies while others do not
(tests/security/netpol_eval.py); and the ScaledObjects Strait renders pass the chart's own CRD.

Without STRAIT_CHARTS_DIR (or without keda in it) these tests skip, and say so.
"""
from __future__ import annotations

import kubernetes_validate
import pytest

from components.k8s.keda import (
    CONTROL_PLANE_PORT,
    METRICS_API_LABELS,
    METRICS_PORT,
    OPERATOR_GRPC_PORT,
    OPERATOR_LABELS,
    WEBHOOK_LABELS,
    BusinessHours,
    KedaArgs,
    QueueAutoscalerArgs,
    chart_values,
    keda_policies,
    prometheus_query_policy,
    scaling_spec,
    scrape_targets,
)
from strait.catalog.charts import load_charts
from strait.render.keda import render_scaled_object
from strait.render.netpol import PROMETHEUS_POD_LABELS, SCRAPER_LABEL, Allow, cidr_peer, namespace_baseline, tcp
from tests.autoscaling.judges import strict_crd_schema
from tests.helm import render as hr
from tests.security.netpol_eval import Cluster, External, Pod, Policy, allowed

ROOT = hr.charts_dir()
pytestmark = pytest.mark.skipif(
    ROOT is None or not (ROOT / "keda").is_dir(),
    reason=f"SKIPPED: {hr.ENV} is not set (or has no keda), so the KEDA chart was not rendered. Run "
    f"`python scripts/prepare-charts.py --out DIR` and rerun with {hr.ENV}=DIR.")

VPC = "10.40.0.0/16"
ARGS = KedaArgs(chart=load_charts()["keda"], monitoring_namespace="strait-monitoring",
                api_server_egress=Allow((cidr_peer(VPC), cidr_peer("172.20.0.0/16")), tcp(443), "API server"),
                webhook_ingress=Allow((cidr_peer(VPC),), tcp(10250), "control plane"))
K8S_VERSION = "1.35.0"


@pytest.fixture(scope="module")
def rendered() -> hr.Rendered:
    return hr.render(ROOT, "keda", {"name": "keda", "namespace": ARGS.namespace, "values": chart_values(ARGS)})


def deployments(r: hr.Rendered) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for _, o in r.objects if o["kind"] == "Deployment"}


def test_everything_validates_strictly(rendered):
    errors = []
    for path, obj in rendered.objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            assert obj["kind"] == "CustomResourceDefinition" or obj["apiVersion"].startswith("keda.sh"), path
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path} {obj['kind']}: {exc.message}")
    assert errors == []
    assert set(deployments(rendered)) == {"keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks"}


def test_every_pod_meets_the_restricted_profile(rendered):
    for name, d in deployments(rendered).items():
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext") or {}
        assert psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) > 10000, name
        assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC"), name
        for c in pod["containers"] + pod.get("initContainers", []):
            sc = c.get("securityContext") or {}
            assert sc.get("allowPrivilegeEscalation") is False, (name, c["name"])
            assert sc.get("capabilities", {}).get("drop") == ["ALL"] and not sc["capabilities"].get("add"), name
            assert sc.get("readOnlyRootFilesystem") is True, name
            assert (sc.get("seccompProfile") or psc.get("seccompProfile")) == {"type": "RuntimeDefault"}, name
            assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
            assert not any(p.get("hostPort") for p in c.get("ports", [])), name


def test_the_policies_name_the_charts_real_pods_and_ports(rendered):
    d = deployments(rendered)
    want = {"keda-operator": (OPERATOR_LABELS, {OPERATOR_GRPC_PORT, METRICS_PORT}),
            "keda-operator-metrics-apiserver": (METRICS_API_LABELS, {CONTROL_PLANE_PORT, METRICS_PORT}),
            "keda-admission-webhooks": (WEBHOOK_LABELS, {CONTROL_PLANE_PORT, METRICS_PORT})}
    for name, (labels, ports) in want.items():
        tpl = d[name]["spec"]["template"]
        assert labels.items() <= tpl["metadata"]["labels"].items(), name
        found = {p["containerPort"] for c in tpl["spec"]["containers"] for p in c.get("ports", [])}
        assert ports <= found, (name, found)
    metrics_api = d["keda-operator-metrics-apiserver"]["spec"]["template"]["spec"]["containers"][0]
    assert f"--secure-port={CONTROL_PLANE_PORT}" in metrics_api["args"]


def test_keda_may_scale_only_the_built_in_kinds(rendered):
    """Not the chart's default "*" / "*/scale" on every API group: only apps' deployments and statefulsets."""
    rules = [r for _, o in rendered.objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == "keda-operator"
             for r in o["rules"]]
    scale = [r for r in rules if any(res.endswith("/scale") or res == "*" for res in r.get("resources", []))]
    assert scale == [{"apiGroups": ["apps"], "resources": ["deployments/scale", "statefulsets/scale"],
                      "verbs": ["get", "list", "patch", "update", "watch"]}], scale
    assert not any("*" in r.get("apiGroups", []) for r in rules)


def _pod(name: str, ns: str, labels: dict) -> Pod:
    return Pod(name=name, namespace=ns, labels=labels)


def test_the_flows_keda_needs_and_no_others(rendered):
    d = deployments(rendered)
    pods = {n: _pod(n, "keda", d[n]["spec"]["template"]["metadata"]["labels"]) for n in d}
    op, api, hook = pods["keda-operator"], pods["keda-operator-metrics-apiserver"], pods["keda-admission-webhooks"]
    prom = _pod("prometheus-kps-0", "strait-monitoring", {**PROMETHEUS_POD_LABELS, "operator.prometheus.io/name": "kps"})
    grafana = _pod("grafana", "strait-monitoring", {"app.kubernetes.io/name": "grafana"})
    vllm = _pod("qwen7b", "strait-serving", {"app.kubernetes.io/name": "vllm"})
    control_plane, apiserver, internet = External("10.40.3.7"), External("172.20.0.1"), External("203.0.113.9")
    policies = [Policy(n, ns, s) for ns in ("keda", "strait-monitoring", "strait-serving")
                for n, s in namespace_baseline().items()]
    policies += [Policy(n, "keda", s) for n, s in keda_policies(ARGS).items()]
    policies.append(Policy("allow-keda-queries", "strait-monitoring", prometheus_query_policy("keda")))
    # The monitoring stack's own policy lets Prometheus scrape (its egress is not KEDA's to grant).
    policies.append(Policy("prometheus-egress", "strait-monitoring", {
        "podSelector": {"matchLabels": PROMETHEUS_POD_LABELS}, "policyTypes": ["Egress"], "egress": [{}]}))
    cluster = Cluster(namespaces={"keda": {}, "strait-monitoring": {SCRAPER_LABEL: "true"}, "strait-serving": {}},
                      policies=policies)
    must = [(op, prom, 9090), (op, apiserver, 443), (api, op, OPERATOR_GRPC_PORT), (api, apiserver, 443),
            (control_plane, api, CONTROL_PLANE_PORT), (control_plane, hook, CONTROL_PLANE_PORT),
            (hook, apiserver, 443), (prom, op, METRICS_PORT), (prom, api, METRICS_PORT), (prom, hook, METRICS_PORT)]
    must_not = [(op, internet, 443), (op, grafana, 3000), (op, vllm, 8000), (vllm, prom, 9090), (grafana, op, 9666),
                (control_plane, op, CONTROL_PLANE_PORT), (hook, op, OPERATOR_GRPC_PORT), (api, prom, 9090),
                (vllm, api, CONTROL_PLANE_PORT), (op, api, CONTROL_PLANE_PORT)]
    name = lambda e: getattr(e, "name", "") or e.ip  # noqa: E731
    assert [(name(s), name(t), p) for s, t, p in must if not allowed(cluster, s, t, p)] == []
    assert [(name(s), name(t), p) for s, t, p in must_not if allowed(cluster, s, t, p)] == []


def test_rendered_scaled_objects_pass_the_charts_own_crd(rendered):
    import jsonschema

    (crd,) = [o for _, o in rendered.objects if o["kind"] == "CustomResourceDefinition"
              and o["metadata"]["name"] == "scaledobjects.keda.sh"]
    schema = strict_crd_schema(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    so = render_scaled_object(scaling_spec("qwen7b", QueueAutoscalerArgs(
        namespace="strait-serving", deployment="qwen7b", engine="vllm", served_model_name="qwen7b",
        prometheus_address="http://prometheus-operated.strait-monitoring.svc:9090", max_replicas=4,
        cold_start_seconds=540, business_hours=BusinessHours(timezone="Asia/Jakarta")), {"app": "x"}))
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(so)] == []


def test_scrape_targets_select_the_charts_metrics_services(rendered):
    services = [o for _, o in rendered.objects if o["kind"] == "Service"]
    for t in scrape_targets():
        (svc,) = [s for s in services if t.match_labels.items() <= (s["metadata"].get("labels") or {}).items()]
        assert t.namespace == svc["metadata"]["namespace"] == "keda"
        assert t.port in {p["name"] for p in svc["spec"]["ports"]}, (t.name, svc["spec"]["ports"])
        # the Service's metrics port leads to a container port of the same name (named-port egress rules)
        (d,) = [o for _, o in rendered.objects if o["kind"] == "Deployment"
                and svc["spec"]["selector"].items() <= o["spec"]["template"]["metadata"]["labels"].items()]
        assert t.port in {p.get("name") for c in d["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
