"""KEDA, and one queue-depth autoscaler per model server.

``Keda`` installs the pinned upstream chart (strait/catalog/data/charts.yaml) into its own namespace with
hardened values, default-deny NetworkPolicies and the few flows KEDA needs: the API server, the control
plane calling its admission webhook and its external-metrics API, the metrics API server reaching the
operator's gRPC port, the operator querying Prometheus, and Prometheus scraping KEDA's own metrics.

``QueueAutoscaler`` is what a blueprint calls once per model server: a ScaledObject (rendered by the pure
``strait.render.keda``) that scales the server's Deployment on the engine's own queue metric, with a cron
floor for business hours opened ahead of the peak by more than the cold start, and a warm standby.

Nothing here knows which cloud it runs on: the control plane's and API server's addresses come in as
``strait.render.netpol.Allow`` values from the platform (``Platform.allows``).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.k8s.helm import container_security, helm_release, pod_security, release_record, resources
from components.k8s.namespace import namespace
from components.k8s.observability.monitoring import PROMETHEUS_SERVICE, ScrapeTarget
from strait.catalog.charts import ChartPin
from strait.naming import child
from strait.render.keda import (
    KEDA_API_VERSION,
    SCALED_OBJECT,
    CronWindow,
    QueueScalingSpec,
    business_hours_window,
    lead_seconds,
    render_scaled_object,
)
from strait.render.netpol import (
    PROMETHEUS_POD_LABELS,
    Allow,
    pods_peer,
    prometheus_peer,
    tcp,
    workload_policy,
)
from strait.tags import k8s_labels

if TYPE_CHECKING:  # a typed section handed over by the blueprint; components never read config
    from strait.config.sections import QueueAutoscalingConfig

RELEASE = "keda"
NAMESPACE = "keda"
PROMETHEUS_PORT = 9090

#: Pod labels the chart puts on its three Deployments (templates/*/deployment.yaml: app.kubernetes.io/name
#: is the operator's name, with `-metrics-apiserver` for the metrics adapter, and the webhooks' name).
OPERATOR_LABELS = {"app.kubernetes.io/name": "keda-operator"}
METRICS_API_LABELS = {"app.kubernetes.io/name": "keda-operator-metrics-apiserver"}
WEBHOOK_LABELS = {"app.kubernetes.io/name": "keda-admission-webhooks"}
#: The operator serves scaler metrics to the metrics API server over gRPC on this port (fixed in the chart).
OPERATOR_GRPC_PORT = 9666
#: Each component's Prometheus metrics (values.yaml prometheus.*.port).
METRICS_PORT = 8080
#: The control plane calls the admission webhook and the external-metrics API server on this port. Not the
#: chart's 9443/6443: GKE's private-cluster firewall lets the control plane reach nodes on 443 and 10250
#: only, and 10250 is what the platform's ``webhook_ingress`` already opens on every cloud (the Prometheus
#: Operator's webhook uses it for the same reason). Pods have their own IPs, so the kubelet's port on the
#: node is not in the way.
CONTROL_PLANE_PORT = 10250


@dataclass(frozen=True, kw_only=True)
class KedaArgs:
    chart: ChartPin
    """The pinned KEDA chart (``load_charts()["keda"]``)."""
    api_server_egress: Allow
    """How pods reach the Kubernetes API (``Platform.allows["api_server_egress"]``)."""
    webhook_ingress: Allow
    """Who the control plane is, as seen by pods on port 10250 (``Platform.allows["webhook_ingress"]``); its
    peers admit the API server to the webhook and the external-metrics API."""
    monitoring_namespace: str
    """Where the in-cluster Prometheus runs; KEDA's operator queries it and Prometheus scrapes KEDA."""
    namespace: str = NAMESPACE
    """Default: keda."""
    service_monitors: bool = False
    """Let the chart create ServiceMonitors for KEDA's own metrics (needs the Prometheus Operator's CRDs first:
    pass the monitoring stack in ``opts.depends_on``). Default: off; the metrics ports are open to Prometheus
    either way."""
    service_monitor_labels: dict[str, str] = field(default_factory=dict)
    """Labels on those ServiceMonitors (e.g. ``release: kube-prometheus-stack``). Default: none."""


def chart_values(args: KedaArgs) -> dict:
    """Hardened values for the KEDA chart: non-root with the image's distroless UID, RuntimeDefault seccomp,
    no capabilities, read-only root, requests with a memory limit, least-privilege scale targets, metrics on,
    and the control-plane ports moved to 10250 (see CONTROL_PLANE_PORT)."""
    per = lambda v: {"operator": v, "metricServer": v, "webhooks": v}  # noqa: E731
    monitor = {"enabled": args.service_monitors, "additionalLabels": dict(args.service_monitor_labels)}
    return {
        "crds": {"install": True},
        # No custom scale targets: the chart's default grants get/patch on every kind's /scale ("*", "*/scale");
        # off, KEDA keeps only the built-in apps deployments/scale and statefulsets/scale.
        "rbac": {"enabledCustomScaledRefKinds": False, "scaledRefKinds": []},
        "podSecurityContext": per(pod_security()),  # 65532: the distroless "nonroot" user KEDA's images run as
        "securityContext": per(container_security()),
        "resources": {"operator": resources("100m", "256Mi", "1Gi"), "metricServer": resources("100m", "128Mi", "512Mi"),
                      "webhooks": resources("50m", "64Mi", "256Mi")},
        "service": {"portHttpsTarget": CONTROL_PLANE_PORT},
        "webhooks": {"port": CONTROL_PLANE_PORT},
        "prometheus": {"operator": {"enabled": True, "port": METRICS_PORT, "serviceMonitor": monitor},
                       "metricServer": {"enabled": True, "port": METRICS_PORT, "serviceMonitor": monitor},
                       "webhooks": {"enabled": True, "port": METRICS_PORT, "serviceMonitor": monitor}},
    }


def keda_policies(args: KedaArgs) -> dict[str, dict]:
    """NetworkPolicies of the KEDA namespace beyond its default deny and DNS: name -> spec."""
    scrape = Allow((prometheus_peer(),), tcp(METRICS_PORT), "Prometheus scrapes KEDA's metrics")
    control_plane = Allow(args.webhook_ingress.peers, tcp(CONTROL_PLANE_PORT), "the control plane (webhook, external metrics)")
    prometheus = Allow((pods_peer(args.monitoring_namespace, PROMETHEUS_POD_LABELS),), tcp(PROMETHEUS_PORT),
                       "queue queries to the in-cluster Prometheus")
    grpc_in = Allow((pods_peer(args.namespace, METRICS_API_LABELS),), tcp(OPERATOR_GRPC_PORT), "metrics API server -> operator")
    grpc_out = Allow((pods_peer(args.namespace, OPERATOR_LABELS),), tcp(OPERATOR_GRPC_PORT), "metrics API server -> operator")
    return {
        "keda-operator": workload_policy(OPERATOR_LABELS, ingress=[grpc_in, scrape],
                                         egress=[args.api_server_egress, prometheus]),
        "keda-metrics-apiserver": workload_policy(METRICS_API_LABELS, ingress=[control_plane, scrape],
                                                  egress=[args.api_server_egress, grpc_out]),
        "keda-admission-webhooks": workload_policy(WEBHOOK_LABELS, ingress=[control_plane, scrape],
                                                   egress=[args.api_server_egress]),
    }


def prometheus_query_policy(keda_namespace: str) -> dict:
    """In the monitoring namespace: Prometheus admits KEDA's operator on its query port (policies add up, so
    this only widens what the monitoring stack's own policies allow)."""
    return workload_policy(PROMETHEUS_POD_LABELS, ingress=[Allow(
        (pods_peer(keda_namespace, OPERATOR_LABELS),), tcp(PROMETHEUS_PORT), "KEDA's operator queries the queue")])


def scrape_targets(namespace: str = NAMESPACE) -> list[ScrapeTarget]:
    """KEDA's three metrics Services, for ``MonitoringStackArgs.targets``: the monitoring stack then creates their
    ServiceMonitors and lets Prometheus out to them (keep ``KedaArgs.service_monitors`` off). The chart labels
    each Service ``app.kubernetes.io/name: <component>`` and names the port ``metrics``."""
    return [ScrapeTarget(name=n, namespace=namespace, match_labels={"app.kubernetes.io/name": n}, port="metrics")
            for n in ("keda-operator", "keda-operator-metrics-apiserver", "keda-admission-webhooks")]


def prometheus_address(monitoring_namespace: str) -> str:
    """The in-cluster Prometheus the queue triggers query (the operator's governing Service)."""
    return f"http://{PROMETHEUS_SERVICE}.{monitoring_namespace}.svc:{PROMETHEUS_PORT}"


class Keda(pulumi.ComponentResource):
    """KEDA's namespace, policies and pinned Helm release. Pass it to every ``QueueAutoscaler`` (``keda=``) so
    ScaledObjects wait for its CRDs."""

    namespace: str
    prometheus_address: str
    release: dict

    def __init__(self, name: str, args: KedaArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:Keda", name, None, opts)
        if args.chart.chart.rsplit("/", 1)[-1] != "keda":
            raise ValueError(f"chart {args.chart.chart!r} is not KEDA's: pin kedacore's `keda` chart in "
                             "strait/catalog/data/charts.yaml")
        values = chart_values(args)
        policies = keda_policies(args)
        ns_name = args.namespace
        labels = k8s_labels(name=RELEASE, instance=name, component="autoscaler")
        o = pulumi.ResourceOptions(parent=self)
        # Every KEDA pod meets the restricted Pod Security profile (chart_values), so enforce it.
        ns = namespace(ns_name, child(name, "ns"), o, enforce="restricted", warn="restricted")
        in_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        netpols = [k8s.networking.v1.NetworkPolicy(child(name, pname), metadata={
            "name": pname, "namespace": ns_name, "labels": labels}, spec=spec, opts=in_ns)
            for pname, spec in sorted(policies.items())]
        netpols.append(k8s.networking.v1.NetworkPolicy(child(name, "prometheus-ingress"), metadata={
            "name": "allow-keda-queries", "namespace": args.monitoring_namespace, "labels": labels},
            spec=prometheus_query_policy(ns_name), opts=o))
        # KEDA starts with its flows already open, so its first API and Prometheus calls do not time out.
        self.helm = helm_release(child(name, "release"), RELEASE, ns_name, args.chart, values,
                                 pulumi.ResourceOptions(parent=self, depends_on=[ns, *netpols]), timeout_seconds=600)
        self.namespace = ns_name
        self.prometheus_address = prometheus_address(args.monitoring_namespace)
        self.release = release_record(args.chart)
        self.register_outputs({"namespace": ns_name, "release": self.release})


# --- one autoscaler per model server --------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class BusinessHours:
    """When the stack's users are at work, in the stack's own time zone."""

    timezone: str
    """IANA name, e.g. Asia/Jakarta."""
    start: str = "09:00"
    end: str = "18:00"
    days: Sequence[str] = ("mon", "tue", "wed", "thu", "fri")


@dataclass(frozen=True, kw_only=True)
class QueueAutoscalerArgs:
    namespace: str
    """The model server's namespace."""
    deployment: str
    """The model server's Deployment (``VllmService.service_name`` / ``SglangService.service_name``)."""
    engine: Literal["vllm", "sglang"]
    served_model_name: str
    """The ``model_name`` label the engine puts on its metrics (the server's --served-model-name)."""
    prometheus_address: str
    """In-cluster Prometheus (``Keda.prometheus_address``)."""
    max_replicas: int
    cold_start_seconds: int
    """How long a new replica takes to serve: the model server's startup budget
    (``ServerSizing.startup_timeout_seconds`` from ``components.k8s.model_server.size_for_pool``)."""
    min_replicas: int = 1
    """Warm standby, at every hour. Default: 1 (never 0: a cold start is minutes)."""
    queue_per_replica: float = 4
    """Waiting requests per replica before another is added. Default: 4."""
    business_hours: BusinessHours | None = None
    """Default: no cron floor (the queue and the standby only)."""
    business_hours_replicas: int | None = None
    """Replicas held through business hours. Default: min_replicas + 1 with ``business_hours``."""
    node_provision_seconds: int = 600
    """How long a GPU node takes to join and pull the image, added to the cold start for the cron lead.
    Default: 600 s."""
    scale_down_stabilization_seconds: int = 600
    """The HPA keeps the highest recommendation of this window before scaling down. Default: 600 s (>= 300)."""
    polling_interval_seconds: int = 15
    """How often KEDA queries Prometheus. Default: 15 s."""
    keda: Keda | None = None
    """The KEDA install; the ScaledObject waits for its CRDs. Default: none (KEDA installed elsewhere)."""


def autoscaler_args(key: str, section: "QueueAutoscalingConfig | None", *, engine: Literal["vllm", "sglang"],
                    served_model_name: str, namespace: str, deployment: str, cold_start_seconds: int,
                    prometheus_address: str, keda: Keda | None = None) -> QueueAutoscalerArgs | None:
    """The args for model ``key`` from a stack's typed ``queue_autoscaling`` section (already validated), or None
    when the section does not autoscale it (the model keeps its fixed replicas)."""
    m = section.models.get(key) if section is not None else None
    if m is None:
        return None
    bh = section.business_hours
    return QueueAutoscalerArgs(
        namespace=namespace, deployment=deployment, engine=engine, served_model_name=served_model_name,
        prometheus_address=prometheus_address, max_replicas=m.max_replicas, cold_start_seconds=cold_start_seconds,
        min_replicas=m.min_replicas, queue_per_replica=m.queue_per_replica,
        business_hours=BusinessHours(timezone=bh.timezone, start=bh.start, end=bh.end, days=tuple(bh.days))
        if bh is not None else None,
        business_hours_replicas=m.business_hours_replicas if bh is not None else None,
        node_provision_seconds=section.node_provision_seconds,
        scale_down_stabilization_seconds=m.scale_down_stabilization_seconds,
        polling_interval_seconds=m.polling_interval_seconds, keda=keda)


def scaling_spec(name: str, args: QueueAutoscalerArgs, labels: dict[str, str] | None = None) -> QueueScalingSpec:
    """The pure spec the ScaledObject is rendered from (raises ValueError on bad input)."""
    window: CronWindow | None = None
    if args.business_hours is not None:
        bh = args.business_hours
        replicas = args.business_hours_replicas or min(args.max_replicas, args.min_replicas + 1)
        window = business_hours_window(timezone=bh.timezone, start=bh.start, end=bh.end, days=bh.days,
                                       lead_seconds=lead_seconds(args.cold_start_seconds, args.node_provision_seconds),
                                       replicas=replicas)
    elif args.business_hours_replicas is not None:
        raise ValueError("business_hours_replicas is set without business_hours")
    return QueueScalingSpec(
        name=name, namespace=args.namespace, target_deployment=args.deployment, engine=args.engine,
        served_model_name=args.served_model_name, prometheus_address=args.prometheus_address,
        min_replicas=args.min_replicas, max_replicas=args.max_replicas, queue_per_replica=args.queue_per_replica,
        window=window, scale_down_stabilization_seconds=args.scale_down_stabilization_seconds,
        polling_interval_seconds=args.polling_interval_seconds, labels=labels or {})


class QueueAutoscaler(pulumi.ComponentResource):
    """One model server's ScaledObject: queue depth, business-hours floor, warm standby.

    The HPA that KEDA creates owns the Deployment's ``spec.replicas`` from then on: create the model server
    with ``pulumi.ResourceOptions(transforms=[replicas_owned_by_autoscaler])`` so ``pulumi up`` does not put
    its own count back."""

    scaled_object: dict
    """The rendered ScaledObject (for plans and policies)."""

    def __init__(self, name: str, args: QueueAutoscalerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("strait:k8s:QueueAutoscaler", name, None, opts)
        labels = k8s_labels(name="queue-autoscaler", instance=name, component="autoscaler")
        try:
            self.scaled_object = render_scaled_object(scaling_spec(name, args, labels))
        except ValueError as exc:
            raise ValueError(f"QueueAutoscaler {name}: {exc}") from None
        so = self.scaled_object
        depends = [args.keda.helm] if args.keda is not None else []
        k8s.apiextensions.CustomResource(child(name, "scaledobject"), api_version=KEDA_API_VERSION,
                                         kind=SCALED_OBJECT, metadata=so["metadata"], spec=so["spec"],
                                         opts=pulumi.ResourceOptions(parent=self, depends_on=depends))
        self.register_outputs({"max_replicas": args.max_replicas})


def replicas_owned_by_autoscaler(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """A Pulumi transform for a model server under a ``QueueAutoscaler``: its Deployment's ``spec.replicas``
    is the HPA's to change, so Pulumi sets it at creation and then ignores it."""
    if args.type_ != "kubernetes:apps/v1:Deployment":
        return None
    opts = copy.copy(args.opts)  # ResourceOptions.merge would append to the list, not replace it
    opts.ignore_changes = sorted({*(args.opts.ignore_changes or []), "spec.replicas"})
    return pulumi.ResourceTransformResult(props=args.props, opts=opts)
