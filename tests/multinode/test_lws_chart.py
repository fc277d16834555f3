"""The LWS chart rendered by Helm itself (helm-python-sdk, Helm v4) with the values components/k8s/lws.py passes,
from the upstream source scripts/prepare-charts.py builds (STRAIT_CHARTS_DIR): every object valid
(kubernetes-validate, strict), the controller meets the restricted Pod Security profile with the released image,
the NetworkPolicy names the chart's real pod labels and webhook port, the flows LWS needs pass and others do not
(tests/security/netpol_eval.py), and the CRD the chart installs is the one our LeaderWorkerSet is validated
against (tests/data/lws).

Without STRAIT_CHARTS_DIR (or without lws in it) these tests skip, and say so.
"""
from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from components.k8s.lws import WEBHOOK_PORT, LwsArgs, chart_values, controller_labels, lws_policies
from strait.catalog.charts import load_charts
from strait.render.netpol import Allow, cidr_peer, namespace_baseline, tcp
from tests.helm import render as hr
from tests.security.netpol_eval import Cluster, External, Pod, Policy, allowed

ROOT = hr.charts_dir()
pytestmark = pytest.mark.skipif(
    ROOT is None or not (ROOT / "lws").is_dir(),
    reason=f"SKIPPED: {hr.ENV} is not set (or has no lws), so the LWS chart was not rendered. Run "
    f"`python scripts/prepare-charts.py --out DIR` and rerun with {hr.ENV}=DIR.")

VPC = "10.40.0.0/16"
ARGS = LwsArgs(chart=load_charts()["lws"], api_server_egress=Allow((cidr_peer(VPC), cidr_peer("172.20.0.0/16")),
                                                                  tcp(443), "API server"),
               webhook_ingress=Allow((cidr_peer(VPC),), tcp(10250), "control plane"))
K8S_VERSION = "1.35.0"
OUR_CRD = Path(__file__).resolve().parents[1] / "data" / "lws" / "leaderworkerset.x-k8s.io_leaderworkersets.yaml"


@pytest.fixture(scope="module")
def rendered() -> hr.Rendered:
    return hr.render(ROOT, "lws", {"name": "lws", "namespace": ARGS.namespace, "values": chart_values(ARGS)})


def controller(r: hr.Rendered) -> dict:
    (d,) = [o for _, o in r.objects if o["kind"] == "Deployment"]
    return d


def test_everything_validates_strictly(rendered):
    errors = []
    for path, obj in rendered.objects:
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{path} {obj['kind']}: {exc.message}")
    assert errors == []


def test_the_controller_is_hardened_and_runs_the_released_image(rendered):
    pod = controller(rendered)["spec"]["template"]["spec"]
    psc = pod["securityContext"]
    assert psc["runAsNonRoot"] is True and psc["runAsUser"] > 10000 and psc["seccompProfile"] == {"type": "RuntimeDefault"}
    (c,) = pod["containers"]
    assert c["image"] == "registry.k8s.io/lws/lws:v0.10.0" and c["imagePullPolicy"] == "IfNotPresent"
    sc = c["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]


def test_the_policy_names_the_charts_real_pods_and_port(rendered):
    tpl = controller(rendered)["spec"]["template"]
    assert controller_labels().items() <= tpl["metadata"]["labels"].items()
    assert WEBHOOK_PORT in {p["containerPort"] for c in tpl["spec"]["containers"] for p in c.get("ports", [])}
    svc = [o for _, o in rendered.objects if o["kind"] == "Service" and o["metadata"]["name"] == "lws-webhook-service"]
    assert svc[0]["spec"]["ports"][0]["targetPort"] == WEBHOOK_PORT


def test_the_flows_lws_needs_and_no_others(rendered):
    labels = controller(rendered)["spec"]["template"]["metadata"]["labels"]
    ctl = Pod(name="lws-controller", namespace="lws-system", labels=labels)
    vllm = Pod(name="llama-0", namespace="strait-serving", labels={"app.kubernetes.io/name": "vllm"})
    control_plane, apiserver, internet = External("10.40.3.7"), External("172.20.0.1"), External("203.0.113.9")
    policies = [Policy(n, ns, s) for ns in ("lws-system", "strait-serving") for n, s in namespace_baseline().items()]
    policies += [Policy(n, "lws-system", s) for n, s in lws_policies(ARGS).items()]
    cluster = Cluster(namespaces={"lws-system": {}, "strait-serving": {}}, policies=policies)
    must = [(control_plane, ctl, WEBHOOK_PORT), (ctl, apiserver, 443)]
    must_not = [(ctl, internet, 443), (vllm, ctl, WEBHOOK_PORT), (control_plane, ctl, 8081), (ctl, vllm, 8000)]
    name = lambda e: getattr(e, "name", "") or e.ip  # noqa: E731
    assert [(name(s), name(t), p) for s, t, p in must if not allowed(cluster, s, t, p)] == []
    assert [(name(s), name(t), p) for s, t, p in must_not if allowed(cluster, s, t, p)] == []


def test_the_chart_installs_the_crd_our_objects_are_validated_against(rendered):
    installed = [c for c in rendered.crds if c["metadata"]["name"] == "leaderworkersets.leaderworkerset.x-k8s.io"]
    assert len(installed) == 1
    ours = yaml.safe_load(OUR_CRD.read_text())
    assert installed[0]["spec"]["versions"] == ours["spec"]["versions"]


#: Checkov findings the chart keeps, each for a real need: the controller talks to the API server (it reconciles
#: LeaderWorkerSets, StatefulSets, Pods and Services), and its internal certificate manager writes the webhook
#: configurations' caBundle (enableCertManager: false; no cert-manager dependency).
CHART_FINDINGS = {("CKV_K8S_38", "Deployment.lws-system.lws-controller-manager"),
                  ("CKV_K8S_155", "ClusterRole.default.lws-manager-role")}


def test_checkov_over_the_chart_and_its_policies(rendered, tmp_path):
    import json
    import subprocess

    from tests.conftest import ROOT

    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    docs = [o for _, o in rendered.objects]
    docs += [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": n, "namespace": "lws-system"},
              "spec": s} for n, s in {**namespace_baseline(), **lws_policies(ARGS)}.items()]
    (tmp_path / "lws.yaml").write_text(yaml.safe_dump_all(docs))
    proc = subprocess.run([str(checkov), "-d", str(tmp_path), "--config-file", str(ROOT / ".checkov.yaml"), "--quiet",
                           "--compact", "-o", "json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    assert {(r["check_id"], r["resource"]) for r in report["results"]["failed_checks"]} == CHART_FINDINGS
