"""Metrics for the serving platform: kube-prometheus-stack (Prometheus, Alertmanager, Grafana,
kube-state-metrics), NVIDIA dcgm-exporter, our ServiceMonitors, the alert rules and the dashboards.

Helm is used only for the two third-party stacks (pinned in strait/catalog/data/charts.yaml). Everything
Strait itself decides, scrape targets, rules and dashboards, is a first-class Kubernetes object, so it
shows in the offline plan's manifests and is validated there.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.k8s.common import GPU_TOLERATION
from components.k8s.namespace import namespace
from components.k8s.helm import NONROOT_UID, container_security, helm_release, pod_security, release_record, resources
from strait.catalog.charts import ChartPin
from strait.gpu_labels import GPU_LABEL, POOL_LABEL
from strait.naming import child
from strait.render.netpol import (
    PROMETHEUS_POD_LABELS,
    SCRAPER_LABEL,
    Allow,
    namespace_peer,
    tcp,
    within_namespace,
    workload_policy,
)
from strait.render.alertmanager import RECEIVERS_SECRET, SECRETS_DIR
from strait.render.dashboards import dump as dump_dashboard
from strait.tags import k8s_labels

#: Helm release name of kube-prometheus-stack. Our monitors and rules also carry `release: <this>`,
#: so they are selected even if someone turns the *SelectorNilUsesHelmValues values back on.
KPS_RELEASE = "kube-prometheus-stack"
DCGM_RELEASE = "dcgm-exporter"
GRAFANA_SERVICE = "grafana"
PROMETHEUS_SERVICE = "prometheus-operated"  # created by the operator for every Prometheus
GRAFANA_ADMIN_SECRET = "grafana-admin"
MONITORING_API = "monitoring.coreos.com/v1"


@dataclass(frozen=True, kw_only=True)
class ScrapeTarget:
    """Services Prometheus scrapes through a ServiceMonitor."""

    name: str
    namespace: str
    match_labels: dict[str, str]
    port: str = "http"
    path: str = "/metrics"
    interval: str = "15s"
    service_label_to_target: dict[str, str] = field(default_factory=dict)
    """Service label -> target label copied onto every series (e.g. the GPU pool, for $/token)."""


@dataclass(frozen=True, kw_only=True)
class AlertingArgs:
    """Who hears about alerts: the whole Alertmanager config and the credentials its receivers read from files."""

    config: dict
    """strait.render.alertmanager.render_alertmanager_config: no credential in it, only ``*_file`` paths."""
    credentials: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Secret key (strait.render.alertmanager.secret_keys) -> Pulumi secret. They go into one Kubernetes Secret
    that the operator mounts into the Alertmanager pods; never into Helm values or a ConfigMap. Default: none."""
    secret_name: str = RECEIVERS_SECRET
    receivers_egress: Allow | None = None
    """Where Alertmanager may send notifications (PagerDuty's and Slack's HTTPS endpoints). Default: nowhere."""


@dataclass(frozen=True, kw_only=True)
class MonitoringStackArgs:
    namespace: str
    kube_prometheus_stack: ChartPin
    dcgm_exporter: ChartPin | None
    """Default: no DCGM exporter (no GPU nodes)."""
    rule_groups: list[dict]
    """PrometheusRule spec.groups (strait.render.alerts.render_rule_groups)."""
    dashboards: dict[str, dict]
    """uid -> dashboard JSON (strait.render.dashboards.render_dashboards)."""
    targets: list[ScrapeTarget] = field(default_factory=list)
    retention_days: int = 15
    prometheus_storage_gib: int = 50
    grafana_storage_gib: int = 5
    storage_class: str = "gp3"
    node_labels_for_cost: tuple[str, ...] = (POOL_LABEL, "node.kubernetes.io/instance-type")
    """Node labels kube-state-metrics exports in kube_node_labels (the cost recording rules join on them)."""
    gpu_node_label: str = GPU_LABEL
    api_server_egress: Allow | None = None
    """How pods here reach the Kubernetes API (the operator, kube-state-metrics, Prometheus service
    discovery, Grafana's dashboard sidecar); the cluster component knows its addresses. Default: not allowed."""
    node_metrics_egress: Allow | None = None
    """Prometheus to the nodes' kubelet (cAdvisor) and node-exporter ports. Default: not allowed."""
    webhook_ingress: Allow | None = None
    """The API server calling the Prometheus Operator's admission webhook. Default: not allowed."""
    alerting: AlertingArgs | None = None
    """Alertmanager's receivers, routing and inhibition. Default: the chart's own config (alerts reach nobody)."""


#: The operator labels every Alertmanager pod with the name of its app (as it does Prometheus').
ALERTMANAGER_POD_LABELS = {"app.kubernetes.io/name": "alertmanager"}
#: kube-prometheus-stack's operator pods (templates/prometheus-operator/_prometheus-operator.tpl:
#: `app.kubernetes.io/name: <chart name>-prometheus-operator`) and its webhook's container port
#: (values.yaml `prometheusOperator.tls.internalPort`).
OPERATOR_POD_LABELS = {"app.kubernetes.io/name": "kube-prometheus-stack-prometheus-operator"}
OPERATOR_WEBHOOK_PORT = 10250


def monitoring_policies(args: MonitoringStackArgs, targets: list[ScrapeTarget]) -> dict[str, dict]:
    """NetworkPolicies of the monitoring namespace beyond its default deny: name -> spec.

    The charts' pods talk among themselves (Grafana -> Prometheus -> Alertmanager, the operator ->
    Prometheus' config reloader) on ports Strait does not render, so the namespace is open inside.
    Prometheus alone may leave it, and only to the scrape targets' metrics ports.
    """
    out = {"allow-within-namespace": within_namespace()}
    if args.api_server_egress is not None:
        out["allow-api-server"] = workload_policy(None, egress=[args.api_server_egress])
    scrape = [Allow((namespace_peer(t.namespace),), tcp(t.port), f"scrape {t.name}")
              for t in sorted(targets, key=lambda t: t.name) if t.namespace != args.namespace]
    if args.node_metrics_egress is not None:
        scrape.append(args.node_metrics_egress)
    if scrape:
        out["allow-prometheus-scrapes"] = workload_policy(PROMETHEUS_POD_LABELS, egress=scrape)
    if args.webhook_ingress is not None:
        out["allow-operator-webhook"] = workload_policy(OPERATOR_POD_LABELS, ingress=[args.webhook_ingress])
    if args.alerting is not None and args.alerting.receivers_egress is not None:
        out["allow-alertmanager-receivers"] = workload_policy(ALERTMANAGER_POD_LABELS,
                                                              egress=[args.alerting.receivers_egress])
    return out


def kube_prometheus_stack_values(args: MonitoringStackArgs) -> dict:
    retention_size_gb = int(args.prometheus_storage_gib * 0.85)  # Prometheus "GB" are 2^30 bytes
    pvc = lambda gib: {"spec": {"storageClassName": args.storage_class, "accessModes": ["ReadWriteOnce"],  # noqa: E731
                                "resources": {"requests": {"storage": f"{gib}Gi"}}}}
    return {
        "fullnameOverride": "kps",
        "crds": {"enabled": True},
        "prometheus": {"prometheusSpec": {
            "retention": f"{args.retention_days}d",
            "retentionSize": f"{retention_size_gb}GB",
            "storageSpec": {"volumeClaimTemplate": pvc(args.prometheus_storage_gib)},
            # Select every ServiceMonitor/PodMonitor/PrometheusRule in the cluster, not only this release's.
            "serviceMonitorSelectorNilUsesHelmValues": False,
            "podMonitorSelectorNilUsesHelmValues": False,
            "ruleSelectorNilUsesHelmValues": False,
            "probeSelectorNilUsesHelmValues": False,
            "scrapeConfigSelectorNilUsesHelmValues": False,
            "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
        }},
        "alertmanager": alertmanager_values(args, pvc(2)),
        # Hardening below is judged by tests/helm (Helm renders these values, Checkov reads the result); what the
        # charts cannot do is in tests/helm/checkov-exceptions.yaml with its reason.
        "prometheusOperator": {
            "resources": resources("100m", "256Mi", "512Mi"),
            "admissionWebhooks": {"patch": {
                "resources": resources("10m", "32Mi", "64Mi"),
                # kube-webhook-certgen is a static binary: distroless nonroot instead of the chart's UID 2000.
                "securityContext": pod_security(NONROOT_UID)}},
        },
        "grafana": {
            "fullnameOverride": GRAFANA_SERVICE,
            "admin": {"existingSecret": GRAFANA_ADMIN_SECRET, "userKey": "admin-user", "passwordKey": "admin-password"},
            "persistence": {"enabled": True, "size": f"{args.grafana_storage_gib}Gi", "storageClassName": args.storage_class},
            # fsGroup makes the volume writable, so no root init container has to chown it (CAP_CHOWN).
            "initChownData": {"enabled": False},
            "securityContext": pod_security(NONROOT_UID, fs_group=NONROOT_UID),
            # Read-only root (merged onto the chart's no-escalation, drop-ALL context): Grafana writes its data
            # and plugins to the volume, and creates its log directory and temp files on these emptyDirs.
            "containerSecurityContext": {"readOnlyRootFilesystem": True},
            "extraEmptyDirMounts": [{"name": "tmp", "mountPath": "/tmp"}, {"name": "logs", "mountPath": "/var/log/grafana"}],
            "resources": resources("100m", "256Mi", "512Mi"),
            # The sidecars read dashboards and datasources from this namespace only: a Role, not a ClusterRole
            # that could read every Secret in the cluster.
            "rbac": {"namespaced": True},
            # The sidecar loads every ConfigMap labelled grafana_dashboard: "1" (ours are in this namespace).
            "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "labelValue": "1"},
                        "resources": resources("20m", "96Mi", "192Mi"),
                        "securityContext": container_security()},
        },
        "kube-state-metrics": {
            "metricLabelsAllowlist": [f"nodes=[{','.join(args.node_labels_for_cost)}]"],
            "resources": resources("50m", "128Mi", "256Mi"),
        },
        "prometheus-node-exporter": {
            "resources": resources("20m", "32Mi", "64Mi"),
            "securityContext": pod_security(65534, fs_group=65534),
            "containerSecurityContext": container_security(),
        },
    }


def alertmanager_values(args: MonitoringStackArgs, volume: dict) -> dict:
    """The chart's ``alertmanager`` values: storage, and with alerting, Strait's whole config plus the Secret its
    receivers read their credentials from (mounted at /etc/alertmanager/secrets/<name>/)."""
    spec: dict = {"storage": {"volumeClaimTemplate": volume}}
    if args.alerting is None:
        return {"alertmanagerSpec": spec}
    if args.alerting.credentials:
        spec["secrets"] = [args.alerting.secret_name]
    return {"alertmanagerSpec": spec, "config": args.alerting.config}


def dcgm_exporter_values(args: MonitoringStackArgs) -> dict:
    return {
        # The default counters only (no DCGM_FI_PROF_*): tests/data/metrics/dcgm-exporter-default-counters.csv
        # is the list our rules and dashboards are checked against.
        "arguments": ["-f", "/etc/dcgm-exporter/default-counters.csv"],
        "tolerations": [GPU_TOLERATION],
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": args.gpu_node_label, "operator": "Exists"}]}]}}},
        # Strait's own ServiceMonitor scrapes it (below), so it is in the plan's manifests.
        "serviceMonitor": {"enabled": False},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        # The chart's container context stays (root, SYS_ADMIN, every other capability dropped, no privilege
        # escalation): its counters include DCGM_FI_PROF_GR_ENGINE_ACTIVE, a profiling field that needs
        # SYS_ADMIN, and the kubelet's pod-resources socket it maps GPUs to pods through is root's. The pod
        # gets the runtime's default seccomp profile. tests/helm/checkov-exceptions.yaml records the rest.
        "podSecurityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
    }


class MonitoringStack(pulumi.ComponentResource):
    namespace: str
    grafana_service: str
    prometheus_service: str
    grafana_admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: MonitoringStackArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:observability:MonitoringStack", name, None, opts)
        if not args.rule_groups:
            raise ValueError("rule_groups is empty: render them with strait.render.alerts.render_rule_groups")
        if args.alerting is not None:
            missing = sorted(set(alerting_secret_keys(args.alerting.config, args.alerting.secret_name))
                             - set(args.alerting.credentials))
            if missing:
                raise ValueError(f"alerting: the Alertmanager config reads {', '.join(missing)} from the Secret "
                                 f"{args.alerting.secret_name}, but no credential was given for it")
        names = [t.name for t in args.targets]
        if len(names) != len(set(names)):
            raise ValueError(f"scrape target names must be unique: {names}")
        o = pulumi.ResourceOptions(parent=self)
        ns = args.namespace
        labels = k8s_labels(name="monitoring", instance=name, component="observability")
        # node-exporter (hostNetwork, hostPID) and dcgm-exporter (hostPath, SYS_ADMIN) cannot run under
        # baseline; they are the only workloads here that need it, so the namespace is privileged.
        # NetworkPolicies of Strait workloads admit scrapes from namespaces with SCRAPER_LABEL.
        ns_res = namespace(ns, child(name, "ns"), o, enforce="privileged", warn="baseline",
                           extra_labels={SCRAPER_LABEL: "true"})
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns_res])

        password = random.RandomPassword(child(name, "grafana-admin"), length=32, special=False, opts=o)
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        admin = k8s.core.v1.Secret(child(name, "grafana-admin"), metadata={
            "name": GRAFANA_ADMIN_SECRET, "namespace": ns, "labels": labels}, type="Opaque",
            string_data={"admin-user": "admin", "admin-password": self.grafana_admin_password}, opts=in_ns)

        before_kps: list[pulumi.Resource] = [ns_res, admin]
        if args.alerting is not None and args.alerting.credentials:
            # The receivers' keys: a Secret the operator mounts, created before the Alertmanager that reads it.
            before_kps.append(k8s.core.v1.Secret(
                child(name, "alertmanager-receivers"),
                metadata={"name": args.alerting.secret_name, "namespace": ns, "labels": labels}, type="Opaque",
                string_data={k: pulumi.Output.secret(v) for k, v in sorted(args.alerting.credentials.items())},
                opts=in_ns))
        kps = helm_release(child(name, "kube-prometheus-stack"), KPS_RELEASE, ns, args.kube_prometheus_stack,
                           kube_prometheus_stack_values(args),
                           pulumi.ResourceOptions(parent=self, depends_on=before_kps))
        self.releases = {KPS_RELEASE: release_record(args.kube_prometheus_stack)}
        after_crds = pulumi.ResourceOptions(parent=self, depends_on=[kps])
        targets = list(args.targets)
        if args.dcgm_exporter is not None:
            helm_release(child(name, "dcgm-exporter"), DCGM_RELEASE, ns, args.dcgm_exporter, dcgm_exporter_values(args),
                         pulumi.ResourceOptions(parent=self, depends_on=[ns_res]))
            self.releases[DCGM_RELEASE] = release_record(args.dcgm_exporter)
            targets.append(ScrapeTarget(name="dcgm-exporter", namespace=ns, port="metrics",
                                        match_labels={"app.kubernetes.io/name": "dcgm-exporter"}))

        for pname, spec in monitoring_policies(args, targets).items():
            k8s.networking.v1.NetworkPolicy(child(name, pname), metadata={"name": pname, "namespace": ns, "labels": labels},
                                            spec=spec, opts=in_ns)
        mon_labels = {**labels, "release": KPS_RELEASE}
        for t in targets:
            endpoint: dict = {"port": t.port, "path": t.path, "interval": t.interval, "scheme": "http"}
            if t.service_label_to_target:
                endpoint["relabelings"] = [
                    {"sourceLabels": [f"__meta_kubernetes_service_label_{_sanitise(src)}"], "targetLabel": dst,
                     "action": "replace"} for src, dst in sorted(t.service_label_to_target.items())]
            k8s.apiextensions.CustomResource(child(name, f"{t.name}-monitor"), api_version=MONITORING_API,
                                             kind="ServiceMonitor", metadata={"name": t.name, "namespace": t.namespace,
                                                                              "labels": mon_labels},
                                             spec={"selector": {"matchLabels": t.match_labels},
                                                   "namespaceSelector": {"matchNames": [t.namespace]},
                                                   "endpoints": [endpoint]}, opts=after_crds)

        k8s.apiextensions.CustomResource(child(name, "rules"), api_version=MONITORING_API, kind="PrometheusRule",
                                         metadata={"name": "strait", "namespace": ns, "labels": mon_labels},
                                         spec={"groups": args.rule_groups}, opts=after_crds)
        for uid, dash in sorted(args.dashboards.items()):
            k8s.core.v1.ConfigMap(child(name, f"dashboard-{uid}"), metadata={
                "name": f"dashboard-{uid}", "namespace": ns, "labels": {**labels, "grafana_dashboard": "1"}},
                data={f"{uid}.json": dump_dashboard(dash)}, opts=in_ns)

        self.namespace = ns
        self.grafana_service = GRAFANA_SERVICE
        self.prometheus_service = PROMETHEUS_SERVICE
        self.register_outputs({"namespace": ns, "grafana_service": GRAFANA_SERVICE, "releases": self.releases})


def _sanitise(label: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def alerting_secret_keys(config: dict, secret_name: str = RECEIVERS_SECRET) -> list[str]:
    """The keys of Secret ``secret_name`` an Alertmanager config reads through ``*_file`` paths (the operator
    mounts it at /etc/alertmanager/secrets/<name>/); a file anywhere else is named whole, so it is reported."""
    keys = []
    for r in config.get("receivers", []):
        for kind, confs in r.items():
            if kind.endswith("_configs"):
                for c in confs:
                    keys += [v.removeprefix(f"{SECRETS_DIR}/{secret_name}/") for k, v in sorted(c.items())
                             if k.endswith("_file") and isinstance(v, str)]
    return keys
