"""Observability wiring shared by the blueprints: Langfuse before the gateway (its keys go into the
gateway's Secret), Prometheus/Grafana/DCGM, rules and dashboards after it (they scrape it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import pulumi

from blueprints.loader import StackSecrets
from strait.config.checks import PlatformConfig as StackConfig
from components.k8s.observability.langfuse import Langfuse, LangfuseArgs
from components.k8s.observability.langfuse import SERVICE_ACCOUNT as LANGFUSE_SA
from components.k8s.observability.monitoring import AlertingArgs, MonitoringStack, MonitoringStackArgs, ScrapeTarget
from components.platform import Platform
from strait.catalog import Catalog
from strait.catalog.charts import load_charts
from strait.gpu_labels import POOL_LABEL
from strait.render.netpol import Allow, public_https
from strait.render.alertmanager import PAGERDUTY_KEY, SLACK_KEY, receivers_spec, render_alertmanager_config, secret_keys
from strait.render.alerts import ModelTarget, NodePrice, RulesSpec, Thresholds, render_rule_groups
from strait.render.slo import slo_rule_groups, slo_spec
from strait.render.dashboards import DashboardSpec, render_dashboards

MONITORING_NS = "strait-monitoring"
LANGFUSE_NS = "strait-langfuse"
GATEWAY_NS = "strait-gateway"


@dataclass(frozen=True)
class Tracing:
    """What the gateway needs to send traces: the LiteLLM callback and its environment (Secret-backed)."""

    callback: str
    env: dict[str, pulumi.Input[str]]
    egress: tuple[Allow, ...] = ()
    """What the gateway's NetworkPolicy must allow to deliver traces."""


def self_hosted_tiers(cfg: StackConfig) -> tuple[str, ...]:
    return tuple(sorted(t for t, tier in cfg.gateway.tiers.items() if tier.models))


def rules_spec(cfg: StackConfig, cat: Catalog, serving_ns: str, gateway_ns: str) -> RulesSpec:
    o = cfg.observability
    models = tuple(ModelTarget(key=k, served_model_name=m.served_model_name or k, namespace=serving_ns,
                               replicas=m.replicas, ttft_slo_ms=o.slo_ms(k), gpu_memory_utilization=m.gpu_memory_utilization)
                   for k, m in sorted(cfg.models.items()))
    prices = []
    for pname, pool in sorted(cfg.gpu_pools.items()):
        for it in pool.instance_types:
            offer = cat.offer(it, cfg.region)
            usd = offer.hourly_usd(pool.capacity) if offer else None
            if usd is None and offer is not None:  # no spot price in the catalog: on-demand is the honest ceiling
                usd = offer.hourly_usd("on_demand")
            if usd is not None:
                prices.append(NodePrice(pool=pname, instance_type=it, usd_per_hour=usd))
    a = o.alerts
    return RulesSpec(models=models, self_hosted_tiers=self_hosted_tiers(cfg), gateway_namespace=gateway_ns,
                     node_prices=tuple(prices), monthly_budget_usd=cfg.monthly_budget_usd, pool_label=POOL_LABEL,
                     thresholds=Thresholds(queue_depth=a.queue_depth, queue_minutes=a.queue_minutes,
                                           kv_cache_usage_ratio=a.kv_cache_usage_ratio, gpu_temp_celsius=a.gpu_temp_celsius,
                                           gpu_memory_ratio=a.gpu_memory_ratio, gateway_error_ratio=a.gateway_error_ratio,
                                           fallback_ratio=a.fallback_ratio, not_ready_minutes=a.not_ready_minutes))


def build_tracing(cfg: StackConfig, secrets: StackSecrets, platform: Platform,
                  opts: pulumi.ResourceOptions) -> Tracing | None:
    lf = cfg.observability.langfuse
    if lf.mode == "off":
        return None
    if lf.mode == "external":
        return Tracing(callback=lf.callback, env={"LANGFUSE_HOST": lf.host,
                                                  "LANGFUSE_PUBLIC_KEY": secrets.get("langfuse_public_key"),
                                                  "LANGFUSE_SECRET_KEY": secrets.get("langfuse_secret_key")},
                       egress=(public_https("external Langfuse"),))
    if platform.object_store is None:
        raise ValueError(f"observability.langfuse.mode self_hosted needs an object store, which the {platform.cloud} "
                         "platform does not offer; use mode external or off")
    charts = load_charts()
    # The cloud's private bucket for events, exports and media, bound to Langfuse's ServiceAccount.
    store = platform.object_store("langfuse", namespace=LANGFUSE_NS, service_account=LANGFUSE_SA,
                                  expire_days={"events/": lf.trace_retention_days},
                                  force_destroy=cfg.weight_cache.force_destroy)
    langfuse = Langfuse("langfuse", LangfuseArgs(
        namespace=LANGFUSE_NS, storage=store, langfuse=charts["langfuse"], cert_manager=charts["cert-manager"],
        clickhouse_operator=charts["clickhouse-operator"], clickhouse_storage_gib=lf.clickhouse_storage_gib,
        postgres_storage_gib=lf.postgres_storage_gib, trace_retention_days=lf.trace_retention_days,
        storage_class=platform.storage_class, client_namespaces=(GATEWAY_NS,)), opts=opts)
    return Tracing(callback=lf.callback, env={"LANGFUSE_HOST": langfuse.host, "LANGFUSE_PUBLIC_KEY": langfuse.public_key,
                                              "LANGFUSE_SECRET_KEY": langfuse.secret_key},
                   egress=(langfuse.client_egress,))


#: Stack secret holding each receiver's credential, by its key in the Alertmanager receivers' Secret.
RECEIVER_SECRETS = {PAGERDUTY_KEY: "pagerduty_routing_key", SLACK_KEY: "slack_webhook_url"}


def alerting_args(cfg: StackConfig, secrets: StackSecrets | None) -> AlertingArgs | None:
    """Alertmanager receivers from ``observability.alerting`` (opt-in: None when neither PagerDuty nor Slack is on,
    and the chart's default config stays). Config validation has already required each receiver's secret."""
    a = cfg.observability.alerting
    if not a.pagerduty and a.slack_channel is None:
        return None
    spec = receivers_spec(a)
    if secrets is None:
        raise ValueError("observability.alerting has receivers, but the blueprint called build_monitoring without "
                         "secrets=: pass the StackSecrets from load_stack()")
    creds = {k: secrets.get(RECEIVER_SECRETS[k]) for k in secret_keys(spec)}
    missing = sorted(RECEIVER_SECRETS[k] for k, v in creds.items() if v is None)
    if missing:
        raise ValueError(f"observability.alerting needs the secret(s) strait:{', strait:'.join(missing)}")
    return AlertingArgs(config=render_alertmanager_config(spec), credentials=creds,
                        receivers_egress=public_https("Alertmanager to PagerDuty and Slack"))


def build_monitoring(cfg: StackConfig, cat: Catalog, *, serving_ns: str, gateway_ns: str, gateway_name: str,
                     platform: Platform, opts: pulumi.ResourceOptions, extra_targets: Sequence[ScrapeTarget] = (),
                     rules: RulesSpec | None = None, dashboards: DashboardSpec | None = None,
                     secrets: StackSecrets | None = None) -> MonitoringStack | None:
    """Prometheus, Grafana and DCGM with the model-server and gateway scrape targets (plus ``extra_targets``),
    the stack's alert rules and dashboards (``rules``/``dashboards`` override the defaults built from ``cfg``)."""
    o = cfg.observability
    if not o.enabled:
        return None
    charts = load_charts()
    # LiteLLM's own metrics port serves /metrics without a key, and NetworkPolicy admits only Prometheus
    # to it: no LiteLLM key is ever given to the monitoring stack (docs/network-policies.md).
    targets = [
        ScrapeTarget(name="model-servers", namespace=serving_ns, port="http",
                     match_labels={"app.kubernetes.io/component": "model-server"},
                     service_label_to_target={POOL_LABEL: "pool"}),
        ScrapeTarget(name="litellm", namespace=gateway_ns, port="metrics", interval="30s",
                     match_labels={"app.kubernetes.io/name": "litellm", "app.kubernetes.io/instance": gateway_name}),
        *extra_targets,
    ]
    return MonitoringStack("monitoring", MonitoringStackArgs(
        namespace=MONITORING_NS, kube_prometheus_stack=charts["kube-prometheus-stack"],
        dcgm_exporter=charts["dcgm-exporter"] if platform.gpu_pools else None,
        # SLO burn-rate groups only with observability.alerting.slo_alerts (slo_spec is empty otherwise).
        rule_groups=render_rule_groups(rules or rules_spec(cfg, cat, serving_ns, gateway_ns)) + slo_rule_groups(slo_spec(cfg)),
        alerting=alerting_args(cfg, secrets),
        dashboards=render_dashboards(dashboards or DashboardSpec(self_hosted_tiers=self_hosted_tiers(cfg),
                                                                 monthly_budget_usd=cfg.monthly_budget_usd)),
        targets=targets, retention_days=o.retention_days, prometheus_storage_gib=o.prometheus_storage_gib,
        grafana_storage_gib=o.grafana_storage_gib, storage_class=platform.storage_class,
        api_server_egress=platform.allows.get("api_server_egress"),
        node_metrics_egress=platform.allows.get("node_metrics_egress"),
        webhook_ingress=platform.allows.get("webhook_ingress")), opts=opts)
