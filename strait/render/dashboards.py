"""Grafana dashboards as code, built with grafana-foundation-sdk (Grafana's own typed builders).

Pure: no pulumi import. :func:`render_dashboards` returns ``{uid: dashboard JSON}``; the observability
component ships each one in a ConfigMap labelled ``grafana_dashboard: "1"``, which the Grafana sidecar
of kube-prometheus-stack loads. Every metric name in a query is checked against the pinned exporters
in tests/observability/test_metric_names.py, like the alert rules.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import prometheus as gp
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from strait.cost import HOURS_PER_MONTH

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
TAGS = ["strait"]


@dataclass(frozen=True, kw_only=True)
class DashboardSpec:
    self_hosted_tiers: tuple[str, ...] = ()
    monthly_budget_usd: float | None = None
    routers: bool = False
    """Add the vLLM router row to the Serving dashboard (stacks with a VllmRouter). Default: no router row."""
    scaling: bool = False
    """Add the Scale dashboard (stacks whose model servers KEDA scales): queue depth per replica, replicas against
    desired, overflow to commercial, router hit rate, spend per team. Default: no Scale dashboard."""
    serving_namespace: str = "strait-serving"
    """Where the model servers' Deployments live (the Scale dashboard's replica panels)."""


def _q(expr: str, legend: str = "", ref: str = "A") -> gp.Dataquery:
    q = gp.Dataquery().expr(expr).ref_id(ref).datasource(DS)
    return q.legend_format(legend) if legend else q


def _ts(title: str, unit: str, *queries: gp.Dataquery, desc: str = "", w: int = 12, h: int = 8) -> timeseries.Panel:
    p = timeseries.Panel().title(title).unit(unit).datasource(DS).span(w).height(h)
    if desc:
        p = p.description(desc)
    for i, q in enumerate(queries):
        p = p.with_target(q.ref_id(chr(ord("A") + i)))
    return p


def _stat(title: str, unit: str, expr: str, legend: str = "", w: int = 6) -> stat.Panel:
    return stat.Panel().title(title).unit(unit).datasource(DS).span(w).height(4).with_target(_q(expr, legend))


def _base(uid: str, title: str, desc: str) -> gd.Dashboard:
    return (gd.Dashboard(title).uid(uid).description(desc).tags(TAGS).refresh("30s").time("now-6h", "now")
            .timezone("browser").with_variable(gd.DatasourceVariable("datasource").label("Prometheus").type("prometheus")))


def _quantiles(metric: str, sel: str, by: str = "model_name") -> list[gp.Dataquery]:
    return [_q(f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{sel}}}[$__rate_interval])))",
               f"p{int(q * 100)} {{{{{by}}}}}") for q in (0.5, 0.95, 0.99)]


def gpu_fleet() -> gd.Dashboard:
    return (_base("strait-gpu-fleet", "Strait / GPU fleet", "Every GPU DCGM sees: load, heat, power, memory, errors.")
            .with_row(gd.Row("Fleet"))
            .with_panel(_stat("GPUs reporting", "none", "count(DCGM_FI_DEV_GPU_TEMP)"))
            .with_panel(_stat("Mean utilisation", "percent", "avg(DCGM_FI_DEV_GPU_UTIL)"))
            .with_panel(_stat("Hottest GPU", "celsius", "max(DCGM_FI_DEV_GPU_TEMP)"))
            .with_panel(_stat("XID errors (last hour)", "none", "count(max_over_time(DCGM_FI_DEV_XID_ERRORS[1h]) > 0) or vector(0)"))
            .with_row(gd.Row("Per GPU"))
            .with_panel(_ts("GPU utilisation", "percent", _q("DCGM_FI_DEV_GPU_UTIL", "{{Hostname}} gpu{{gpu}}")))
            .with_panel(_ts("Temperature", "celsius", _q("DCGM_FI_DEV_GPU_TEMP", "{{Hostname}} gpu{{gpu}}"),
                            desc="StraitGpuTemperatureHigh fires above the configured limit (default 80 °C)."))
            .with_panel(_ts("Framebuffer used", "percentunit",
                            _q("DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)", "{{Hostname}} gpu{{gpu}}"),
                            desc="vLLM reserves --gpu-memory-utilization of each GPU at start; a flat line there is normal."))
            .with_panel(_ts("Power draw", "watt", _q("DCGM_FI_DEV_POWER_USAGE", "{{Hostname}} gpu{{gpu}}")))
            .with_panel(_ts("SM clock", "rothz", _q("DCGM_FI_DEV_SM_CLOCK * 1e6", "{{Hostname}} gpu{{gpu}}"),
                            desc="Falling clocks under load mean thermal or power throttling."))
            .with_panel(_ts("Last XID error", "none", _q("DCGM_FI_DEV_XID_ERRORS", "{{Hostname}} gpu{{gpu}}"))))


def serving() -> gd.Dashboard:
    sel = 'model_name=~"$model"'
    model_var = (gd.QueryVariable("model").label("Model").datasource(DS)
                 .query("label_values(vllm:num_requests_running, model_name)").multi(True).include_all(True))
    return (_base("strait-serving", "Strait / Serving", "vLLM model servers: latency, throughput, queue, KV cache.")
            .with_variable(model_var)
            .with_row(gd.Row("Latency"))
            .with_panel(_ts("Time to first token", "s", *_quantiles("vllm:time_to_first_token_seconds", sel),
                            desc="StraitTTFTAboveSLO fires when p95 exceeds the model's ttft_slo_ms.", w=8))
            .with_panel(_ts("Inter-token latency", "s", *_quantiles("vllm:inter_token_latency_seconds", sel), w=8))
            .with_panel(_ts("End-to-end request latency", "s", *_quantiles("vllm:e2e_request_latency_seconds", sel), w=8))
            .with_row(gd.Row("Load"))
            .with_panel(_ts("Tokens per second", "short",
                            _q(f"sum by (model_name) (rate(vllm:prompt_tokens_total{{{sel}}}[$__rate_interval]))", "prompt {{model_name}}"),
                            _q(f"sum by (model_name) (rate(vllm:generation_tokens_total{{{sel}}}[$__rate_interval]))", "generated {{model_name}}")))
            .with_panel(_ts("Requests running and waiting", "short",
                            _q(f"sum by (model_name) (vllm:num_requests_running{{{sel}}})", "running {{model_name}}"),
                            _q(f"sum by (model_name) (vllm:num_requests_waiting{{{sel}}})", "waiting {{model_name}}")))
            .with_row(gd.Row("KV cache"))
            .with_panel(_ts("KV-cache usage", "percentunit", _q(f"vllm:kv_cache_usage_perc{{{sel}}}", "{{model_name}} {{pod}}"),
                            w=8).max(1))
            .with_panel(_ts("Prefix-cache hit rate", "percentunit",
                            _q(f"sum by (model_name) (rate(vllm:prefix_cache_hits_total{{{sel}}}[$__rate_interval])) / "
                               f"sum by (model_name) (rate(vllm:prefix_cache_queries_total{{{sel}}}[$__rate_interval]))",
                               "{{model_name}}"), w=8).max(1))
            .with_panel(_ts("Preemptions per second", "short",
                            _q(f"sum by (model_name) (rate(vllm:num_preemptions_total{{{sel}}}[$__rate_interval]))", "{{model_name}}"),
                            desc="Non-zero means the KV cache is too small for the load: requests are recomputed.", w=8)))


#: Metrics of the vLLM router (vllm-project/router 0.1.17) the router row reads; tests/router/test_dashboard.py
#: checks each against the real router's /metrics.
ROUTER_METRICS = ("vllm_router_active_workers", "vllm_router_prefix_routing_decisions_total",
                  "vllm_router_processed_requests_total")


def with_router_row(d: gd.Dashboard) -> gd.Dashboard:
    """Router hit rate, where requests go, and which replicas the router considers healthy (by router Service)."""
    decisions = "vllm_router_prefix_routing_decisions_total"
    return (d.with_row(gd.Row("Router"))
            .with_panel(_ts("Router prefix hit rate", "percentunit",
                            _q(f'sum by (service) (rate({decisions}{{outcome="prefix_hit"}}[$__rate_interval])) / '
                               f"sum by (service) (rate({decisions}[$__rate_interval]))", "{{service}}"),
                            desc="cache_aware: the share of requests routed to the replica holding their longest "
                                 "prefix. consistent_hash routes by session instead; its effect shows in the "
                                 "prefix-cache hit rate above.", w=8).max(1))
            .with_panel(_ts("Requests per replica", "reqps",
                            _q("sum by (service, worker) (rate(vllm_router_processed_requests_total"
                               "[$__rate_interval]))", "{{service}} {{worker}}"),
                            desc="Sticky routing keeps sessions on their replica: uneven bars are expected; "
                                 "a replica at zero is out of the ring.", w=8))
            .with_panel(_ts("Replicas in each router's ring", "short",
                            _q("min by (service) (vllm_router_active_workers)", "{{service}}"),
                            desc="The fewest replicas any router pod routes to. Not vllm_router_worker_health: "
                                 "0.1.17 keeps that gauge at its last value for a replica it has dropped.", w=8)))


def gateway(spec: DashboardSpec) -> gd.Dashboard:
    served = 'requested_model!=""'
    d = (_base("strait-gateway", "Strait / Gateway", "LiteLLM: traffic by tier, fallbacks to commercial APIs, errors, latency, spend.")
         .with_row(gd.Row("Traffic"))
         .with_panel(_ts("Requests by tier and provider", "reqps",
                         _q(f"sum by (requested_model, api_provider) (rate(litellm_proxy_total_requests_metric_total{{{served}}}[$__rate_interval]))",
                            "{{requested_model}} via {{api_provider}}")))
         .with_panel(_ts("Errors by tier and class", "reqps",
                         _q(f"sum by (requested_model, exception_class) (rate(litellm_proxy_failed_requests_metric_total{{{served}}}[$__rate_interval]))",
                            "{{requested_model}} {{exception_class}}"))))
    if spec.self_hosted_tiers:
        tiers = "|".join(spec.self_hosted_tiers)
        d = d.with_panel(_ts(
            "Fallback to commercial (share of self-hosted tier traffic)", "percentunit",
            _q(f'sum(rate(litellm_proxy_total_requests_metric_total{{requested_model=~"{tiers}", api_provider!~"hosted_vllm|None|"}}[$__rate_interval])) / '
               f'sum(rate(litellm_proxy_total_requests_metric_total{{requested_model=~"{tiers}"}}[$__rate_interval]))', "fallback share"),
            _q("sum by (api_provider, model_group) (rate(litellm_deployment_failure_responses_total[$__rate_interval]))",
               "deployment failures {{model_group}} {{api_provider}}"),
            desc="Requests for a self-hosted tier answered by a commercial provider: prompts leave the platform and cost money."))
    return (d.with_row(gd.Row("Latency and spend"))
            .with_panel(_ts("Gateway latency", "s", *_quantiles("litellm_request_total_latency_metric", served, by="model_group")))
            .with_panel(_ts("Spend per hour by model", "currencyUSD",
                            _q("sum by (model) (rate(litellm_spend_metric_total[1h])) * 3600", "{{model}}"))))


def cost(spec: DashboardSpec) -> gd.Dashboard:
    # Self-hosted $/Mtoken: node $/hour of a pool over the tokens its model servers handled.
    # The vLLM ServiceMonitor copies the pool from the Service label onto every series as `pool`.
    tokens = "sum by (pool) (rate(vllm:prompt_tokens_total[1h])) + sum by (pool) (rate(vllm:generation_tokens_total[1h]))"
    d = (_base("strait-cost", "Strait / Cost", "$/hour of GPU nodes (catalog prices) and commercial APIs; $ per million tokens.")
         .with_row(gd.Row("Spend rate"))
         .with_panel(_stat("Total $/hour", "currencyUSD", "strait:spend_usd_per_hour"))
         .with_panel(_stat("GPU nodes $/hour", "currencyUSD", "sum(strait:node_cost_usd_per_hour)"))
         .with_panel(_stat("Commercial APIs $/hour", "currencyUSD", "strait:commercial_spend_usd_per_hour")))
    if spec.monthly_budget_usd:
        d = d.with_panel(_stat("Budget $/hour", "currencyUSD", f"vector({spec.monthly_budget_usd / HOURS_PER_MONTH:.4f})"))
    return (d.with_row(gd.Row("By pool and model"))
            .with_panel(_ts("$/hour by pool", "currencyUSD", _q("sum by (pool) (strait:node_cost_usd_per_hour)", "{{pool}}"),
                            _q("strait:commercial_spend_usd_per_hour", "commercial APIs")))
            .with_panel(_ts("Self-hosted $ per million tokens", "currencyUSD",
                            _q(f"1e6 * sum by (pool) (strait:node_cost_usd_per_hour) / on (pool) (({tokens}) * 3600)", "{{pool}}"),
                            desc="Idle GPUs make this high: the nodes cost the same whether or not tokens flow."))
            .with_panel(_ts("Commercial $ per million tokens", "currencyUSD",
                            _q("1e6 * sum by (model) (rate(litellm_spend_metric_total[1h])) / "
                               "sum by (model) (rate(litellm_total_tokens_metric_total[1h]))", "{{model}}"))))


def scale(spec: DashboardSpec) -> gd.Dashboard:
    """What queue-depth autoscaling does: the queue KEDA reads per replica, the replicas the HPA asks for against
    those serving, the traffic the gateway sends past the self-hosted tiers, sticky routing, and who spends."""
    ns = f'namespace="{spec.serving_namespace}"'
    d = (_base("strait-scale", "Strait / Scale", "Queue-depth autoscaling (KEDA), overflow to commercial APIs, "
               "sticky routing and spend per team.")
         .with_row(gd.Row("Queue and replicas"))
         .with_panel(_ts("Waiting requests per replica", "short",
                         _q("sum by (model_name) (vllm:num_requests_waiting) / count by (model_name) "
                            "(vllm:num_requests_waiting)", "{{model_name}}"),
                         _q("sum by (model_name) (sglang:num_queue_reqs) / count by (model_name) (sglang:num_queue_reqs)",
                            "{{model_name}} (SGLang)"),
                         desc="What KEDA's Prometheus trigger compares with queue_per_replica: above it, the HPA "
                              "adds replicas (up to max_replicas)."))
         .with_panel(_ts("Replicas: desired against available", "short",
                         _q(f"sum by (deployment) (kube_deployment_spec_replicas{{{ns}}})", "desired {{deployment}}"),
                         _q(f"sum by (deployment) (kube_deployment_status_replicas_available{{{ns}}})",
                            "available {{deployment}}"),
                         desc="Desired is what KEDA's HPA asks for. A gap longer than a cold start plus a node's "
                              "provisioning means GPU nodes are not coming (spot gone and the on-demand pool at max)."))
         .with_row(gd.Row("Overflow, routing and spend")))
    if spec.self_hosted_tiers:
        tiers = "|".join(spec.self_hosted_tiers)
        d = d.with_panel(_ts(
            "Self-hosted tiers answered by commercial APIs", "reqps",
            _q(f'sum by (requested_model) (rate(litellm_proxy_total_requests_metric_total{{requested_model=~"{tiers}", '
               'api_provider!~"hosted_vllm|None|"}[$__rate_interval]))', "{{requested_model}}"),
            desc="Requests for a self-hosted tier the gateway sent to the commercial tier (overflow or fallback).",
            w=8))
    d = d.with_panel(_ts("Queue-aware overflow", "reqps",
                         _q("sum by (tier, to) (rate(strait_gateway_overflow_requests_total[$__rate_interval]))",
                            "{{tier}} -> {{to}}"),
                         desc="Requests the gateway's hook rerouted because the tier's engines' real waiting queue "
                              "was deeper than its overflow_queue_depth (strait/gateway/hook.py).", w=8))
    decisions = "vllm_router_prefix_routing_decisions_total"
    return (d.with_panel(_ts("Router prefix hit rate", "percentunit",
                             _q(f'sum by (service) (rate({decisions}{{outcome="prefix_hit"}}[$__rate_interval])) / '
                                f"sum by (service) (rate({decisions}[$__rate_interval]))", "{{service}}"),
                             desc="Empty when no model has a vLLM router.", w=8).max(1))
            .with_panel(_ts("Spend per team", "currencyUSD",
                            _q("sum by (team_alias) (rate(litellm_spend_metric_total[1h])) * 3600", "{{team_alias}}"),
                            desc="Commercial API spend per hour by the team of the calling key (LiteLLM's virtual "
                                 "keys); self-hosted requests cost what their GPU nodes cost.", w=8)))


def _to_json(d: gd.Dashboard) -> dict:
    return json.loads(json.dumps(d.build(), cls=JSONEncoder))


def render_dashboards(spec: DashboardSpec) -> dict[str, dict]:
    """``{uid: dashboard JSON}`` for the GPU fleet, Serving, Gateway and Cost dashboards."""
    out = {}
    scaling = (scale(spec),) if spec.scaling else ()
    for d in (gpu_fleet(), with_router_row(serving()) if spec.routers else serving(), gateway(spec), cost(spec),
              *scaling):
        j = _to_json(d)
        out[j["uid"]] = j
    return dict(sorted(out.items()))


def dashboard_exprs(dashboard: dict) -> list[str]:
    """Every PromQL expression of a dashboard: panel targets and query variables."""
    exprs = []
    for p in dashboard.get("panels", []):
        for panel in [p, *p.get("panels", [])]:
            exprs += [t["expr"] for t in panel.get("targets", []) if t.get("expr")]
    for v in dashboard.get("templating", {}).get("list", []):
        q = v.get("query")
        if v.get("type") == "query" and isinstance(q, str):
            exprs.append(q)
    return exprs


def dump(dashboard: dict) -> str:
    return json.dumps(dashboard, sort_keys=True, indent=1)
