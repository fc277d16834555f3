"""The monitoring stack with alerting, under Pulumi mocks: the receivers' credentials go only into a Kubernetes
Secret (masked, created before the chart), the chart's values carry the config that amtool accepts and name that
Secret, Alertmanager alone may reach HTTPS, and a config that reads a credential nobody gave fails before any child.
Every Strait object is judged by kubernetes-validate strict."""
from __future__ import annotations

import re
import subprocess

import kubernetes_validate
import pulumi
import pytest
import yaml

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)

from components.k8s.observability.monitoring import (  # noqa: E402
    AlertingArgs,
    MonitoringStack,
    MonitoringStackArgs,
    alerting_secret_keys,
    kube_prometheus_stack_values,
)
from strait.catalog.charts import load_charts  # noqa: E402
from strait.render.alertmanager import (  # noqa: E402
    PAGERDUTY_KEY,
    RECEIVERS_SECRET,
    SLACK_KEY,
    ReceiversSpec,
    render_alertmanager_config,
)
from strait.render.alerts import render_rule_groups  # noqa: E402
from strait.render.dashboards import DashboardSpec, render_dashboards  # noqa: E402
from strait.render.netpol import public_https  # noqa: E402
from strait.render.slo import ErrorSlo, LatencySlo, SloSpec, slo_rule_groups  # noqa: E402
from tests.observability.conftest import phase1_like_spec  # noqa: E402

K8S = "1.35.0"
CANARY_PD = "PDKEY-CANARY-7f3a9c"
CANARY_SLACK = "https://hooks.slack.com/services/T000/B000/CANARY-slack-9b1d"
BOTH = ReceiversSpec(pagerduty=True, slack_channel="#llm-alerts")


def _args(alerting: AlertingArgs | None) -> MonitoringStackArgs:
    charts = load_charts()
    slo = SloSpec(latency=(LatencySlo(model="qwen32b", served_model_name="qwen32b", ttft_ms=500),),
                  errors=(ErrorSlo(tier="self-hosted"),))
    return MonitoringStackArgs(namespace="strait-monitoring", kube_prometheus_stack=charts["kube-prometheus-stack"],
                               dcgm_exporter=None,
                               rule_groups=render_rule_groups(phase1_like_spec()) + slo_rule_groups(slo),
                               dashboards=render_dashboards(DashboardSpec()), alerting=alerting)


def _alerting(**kw) -> AlertingArgs:
    base = dict(config=render_alertmanager_config(BOTH),
                credentials={PAGERDUTY_KEY: pulumi.Output.secret(CANARY_PD), SLACK_KEY: pulumi.Output.secret(CANARY_SLACK)},
                receivers_egress=public_https("PagerDuty and Slack"))
    base.update(kw)
    return AlertingArgs(**base)


def test_credentials_only_in_a_masked_secret_created_before_the_chart(monitor, amtool, tmp_path):
    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _args(_alerting()))

    build()
    regs = monitor.registrations
    secret = next(r for r in regs if r.type == "kubernetes:core/v1:Secret" and r.name == "monitoring-alertmanager-receivers")
    assert secret.has_secrets and secret.inputs["stringData"] == {PAGERDUTY_KEY: "[secret]", SLACK_KEY: "[secret]"}
    assert secret.inputs["metadata"]["name"] == RECEIVERS_SECRET
    release = next(r for r in regs if r.type == "kubernetes:helm.sh/v3:Release")
    assert secret.urn in release.dependencies and not release.has_secrets
    everything = repr([r.inputs for r in regs])
    assert CANARY_PD not in everything and "CANARY-slack" not in everything
    values = release.inputs["values"]
    assert values["alertmanager"]["alertmanagerSpec"]["secrets"] == [RECEIVERS_SECRET]
    # The config as the chart receives it is the one amtool accepts.
    path = tmp_path / "am.yaml"
    path.write_text(yaml.safe_dump(values["alertmanager"]["config"]))
    out = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # Every Strait Kubernetes object here passes the strict schema.
    judged = set()
    for r in regs:
        m = re.fullmatch(r"kubernetes:(?:core/)?([\w.]+/v\d+):(\w+)", r.type)
        if m and m.group(2) in ("Secret", "NetworkPolicy", "ConfigMap", "Namespace"):
            kubernetes_validate.validate({"apiVersion": m.group(1).replace("core/", ""), "kind": m.group(2),
                                          **r.inputs}, K8S, strict=True)
            judged.add(m.group(2))
    assert judged == {"Secret", "NetworkPolicy", "ConfigMap", "Namespace"}
    rules = next(r for r in regs if r.type.endswith("PrometheusRule"))
    names = {x.get("alert") for g in rules.inputs["spec"]["groups"] for x in g["rules"]}
    assert {"StraitTTFTBudgetBurn", "StraitTierErrorBudgetBurn"} <= names


def test_only_alertmanager_may_reach_https(monitor):
    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _args(_alerting()))

    build()
    pols = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in monitor.registrations
            if r.type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"}
    pol = pols["allow-alertmanager-receivers"]
    assert pol["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "alertmanager"}}
    assert [p["port"] for rule in pol["egress"] for p in rule["ports"]] == [443]
    assert "ingress" not in pol


def test_without_alerting_the_chart_default_stays():
    v = kube_prometheus_stack_values(_args(None))["alertmanager"]
    assert set(v) == {"alertmanagerSpec"} and "secrets" not in v["alertmanagerSpec"]


def test_receivers_without_credentials_need_no_secret(monitor):
    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _args(AlertingArgs(config=render_alertmanager_config(ReceiversSpec()))))

    build()
    assert not [r for r in monitor.registrations if r.name.endswith("alertmanager-receivers")]
    release = next(r for r in monitor.registrations if r.type == "kubernetes:helm.sh/v3:Release")
    assert "secrets" not in release.inputs["values"]["alertmanager"]["alertmanagerSpec"]


def test_a_missing_credential_fails_before_any_child(monitor):
    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _args(_alerting(credentials={PAGERDUTY_KEY: "k"})))

    with pytest.raises(ValueError, match="reads slack-webhook-url from the Secret alertmanager-receivers, but no "
                                         "credential was given for it"):
        build()
    assert not [r for r in monitor.registrations if r.type.startswith("kubernetes:")]


def test_secret_keys_read_from_the_config():
    assert alerting_secret_keys(render_alertmanager_config(BOTH)) == [PAGERDUTY_KEY, SLACK_KEY]
    assert alerting_secret_keys(render_alertmanager_config(ReceiversSpec())) == []


def test_checkov_passes_the_alerting_objects(monitor, tmp_path):
    """The receivers' Secret (values masked as the plan writes them) and Alertmanager's egress policy, with the
    namespace's other policies, through the real Checkov and the project's .checkov.yaml."""
    import json

    from tests.conftest import ROOT

    checkov = ROOT / ".venv-checkov" / "bin" / "checkov"
    if not checkov.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")

    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _args(_alerting()))

    build()
    docs = []
    for r in monitor.registrations:
        m = re.fullmatch(r"kubernetes:(?:core/)?([\w.]+/v\d+):(\w+)", r.type)
        if m and m.group(2) in ("Secret", "NetworkPolicy", "Namespace"):
            docs.append({"apiVersion": m.group(1).replace("core/", ""), "kind": m.group(2), **r.inputs})
    assert {d["metadata"]["name"] for d in docs} >= {RECEIVERS_SECRET, "allow-alertmanager-receivers"}
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "alerting.yaml").write_text(yaml.safe_dump_all(docs))
    proc = subprocess.run([str(checkov), "-d", str(tmp_path / "m"), "--config-file", str(ROOT / ".checkov.yaml"),
                           "--quiet", "--compact", "-o", "json", "--framework", "kubernetes"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f"{r['check_id']} {r['resource']}" for r in report["results"]["failed_checks"]]
    assert failed == [] and report["summary"]["parsing_errors"] == 0
    assert report["summary"]["resource_count"] >= len(docs) - 1  # Checkov reads them (it has few checks for these kinds)
