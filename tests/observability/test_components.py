"""The observability components under Pulumi mocks: arg checks raise before any child exists, every
child is parented to its component, secrets stay secret, and the Helm values are what we mean."""
from __future__ import annotations

import pulumi
import pytest

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)

from components.k8s.observability.langfuse import Langfuse, LangfuseArgs, langfuse_values  # noqa: E402
from components.k8s.observability.monitoring import (  # noqa: E402
    MonitoringStack,
    MonitoringStackArgs,
    ScrapeTarget,
    kube_prometheus_stack_values,
)
from components.platform import ObjectStore  # noqa: E402
from strait.catalog.charts import load_charts  # noqa: E402
from strait.render.alerts import render_rule_groups  # noqa: E402
from strait.render.dashboards import DashboardSpec, render_dashboards  # noqa: E402
from tests.observability.conftest import phase1_like_spec  # noqa: E402


def _monitoring_args(**kw) -> MonitoringStackArgs:
    charts = load_charts()
    base = dict(namespace="strait-monitoring", kube_prometheus_stack=charts["kube-prometheus-stack"],
                dcgm_exporter=charts["dcgm-exporter"], rule_groups=render_rule_groups(phase1_like_spec()),
                dashboards=render_dashboards(DashboardSpec()),
                targets=[ScrapeTarget(name="litellm", namespace="strait-gateway", port="metrics", match_labels={"a": "b"})])
    base.update(kw)
    return MonitoringStackArgs(**base)


def test_monitoring_stack_children(monitor):
    @pulumi.runtime.test
    def build():
        MonitoringStack("monitoring", _monitoring_args())

    build()
    regs = monitor.registrations
    comp = next(r for r in regs if r.type == "strait:observability:MonitoringStack")
    baseline = next(r for r in regs if r.type == "strait:k8s:NetworkBaseline")
    children = [r for r in regs if r is not comp and r.parent != baseline.urn]
    assert children and all(r.parent == comp.urn for r in children), [r.name for r in children if r.parent != comp.urn]
    # No LiteLLM key reaches the monitoring stack: it scrapes the gateway's key-less metrics port.
    assert not [r for r in regs if r.type == "kubernetes:core/v1:Secret" and "scrape" in r.name]
    kinds = sorted(r.inputs.get("kind", "") for r in regs if r.type.startswith("kubernetes:monitoring.coreos.com"))
    assert kinds == ["PrometheusRule", "ServiceMonitor", "ServiceMonitor"]  # litellm + dcgm
    dashboards = [r for r in regs if r.type == "kubernetes:core/v1:ConfigMap"]
    assert len(dashboards) == 4 and all(r.inputs["metadata"]["labels"]["grafana_dashboard"] == "1" for r in dashboards)


def test_empty_rules_or_duplicate_targets_raise_before_any_child(monitor):
    @pulumi.runtime.test
    def empty():
        MonitoringStack("m", _monitoring_args(rule_groups=[]))

    with pytest.raises(ValueError, match="rule_groups is empty"):
        empty()
    t = ScrapeTarget(name="x", namespace="n", match_labels={"a": "b"})

    @pulumi.runtime.test
    def dup():
        MonitoringStack("m2", _monitoring_args(targets=[t, t]))

    with pytest.raises(ValueError, match="must be unique"):
        dup()
    assert not [r for r in monitor.registrations if r.type.startswith("kubernetes:")]


def test_prometheus_values_size_retention_to_the_volume():
    v = kube_prometheus_stack_values(_monitoring_args(prometheus_storage_gib=200, retention_days=30))
    spec = v["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d" and spec["retentionSize"] == "170GB"
    assert spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"] == "200Gi"


def _langfuse_args(**store) -> LangfuseArgs:
    charts = load_charts()
    storage = ObjectStore(**{"bucket": "strait-test-langfuse-0000", "region": "ap-southeast-1",
                             "service_account": "langfuse", **store})
    return LangfuseArgs(namespace="strait-langfuse", storage=storage, langfuse=charts["langfuse"],
                        cert_manager=charts["cert-manager"], clickhouse_operator=charts["clickhouse-operator"])


def test_langfuse_credentials_never_enter_helm_values(monitor):
    @pulumi.runtime.test
    def build():
        Langfuse("langfuse", _langfuse_args())

    build()
    release = next(r for r in monitor.registrations if r.type == "kubernetes:helm.sh/v3:Release" and r.name == "langfuse-langfuse")
    assert not release.has_secrets
    assert set(release.dependencies) >= {r.urn for r in monitor.registrations if r.type == "kubernetes:core/v1:Secret"}
    creds = next(r for r in monitor.registrations if r.type == "kubernetes:core/v1:Secret" and r.name == "langfuse-credentials")
    assert creds.has_secrets and set(creds.inputs["stringData"].values()) == {"[secret]"}


def test_langfuse_values_point_at_s3_without_keys():
    v = langfuse_values(_langfuse_args())
    assert v["s3"]["deploy"] is False and v["s3"]["bucket"] == "strait-test-langfuse-0000"
    assert "accessKeyId" not in v["s3"] and "secretAccessKey" not in v["s3"]
    assert v["langfuse"]["nextauth"]["url"] == "http://localhost:3001"
    # Pod Identity needs no annotation, and Langfuse no API token.
    assert v["langfuse"]["serviceAccount"] == {"create": True, "name": "langfuse", "automountServiceAccountToken": False}


def test_langfuse_runs_as_the_stores_identity_on_any_cloud():
    """A store bound through an annotation (GKE Workload Identity) gets it on the chart's ServiceAccount."""
    v = langfuse_values(_langfuse_args(service_account="traces", endpoint="https://storage.googleapis.com",
                                       service_account_annotations={"iam.gke.io/gcp-service-account": "lf@p.iam"}))
    assert v["langfuse"]["serviceAccount"]["name"] == "traces"
    assert v["langfuse"]["serviceAccount"]["annotations"] == {"iam.gke.io/gcp-service-account": "lf@p.iam"}
    assert v["s3"]["endpoint"] == "https://storage.googleapis.com"


def test_langfuse_creates_no_cloud_resources(monitor):
    @pulumi.runtime.test
    def build():
        Langfuse("langfuse", _langfuse_args())

    build()
    clouds = sorted({r.type for r in monitor.registrations if r.type.startswith(("aws:", "gcp:"))})
    assert clouds == []
