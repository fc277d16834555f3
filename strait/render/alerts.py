"""Prometheus alerting and recording rules for the serving platform, rendered from typed inputs.

Pure: no pulumi import. The component wraps :func:`render_rule_groups` in a ``PrometheusRule``.
Metric names come from the pinned exporters and are checked against them in tests
(tests/observability/test_metric_names.py): vLLM 0.33.0's own source, a real LiteLLM 1.109.1
proxy's ``/metrics``, dcgm-exporter's default counters and kube-state-metrics' docs.
Every alert has a ``promtool test rules`` case that fires and one that stays quiet
(tests/observability/test_alert_rules.py).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from strait.cost import HOURS_PER_MONTH  # a month, in hours, as cloud bills count it
from strait.gpu_labels import POOL_LABEL

#: Where the runbooks live (docs/observability.md, one heading per alert).
RUNBOOK_DOC = "docs/observability.md"

#: vLLM metric labels (vllm/v1/metrics/loggers.py: labelnames = ["model_name", "engine"]).
VLLM_MODEL_LABEL = "model_name"


@dataclass(frozen=True, kw_only=True)
class ModelTarget:
    """One self-hosted model whose servers Prometheus scrapes."""

    key: str
    """Model key; also the name of its Service and Deployment."""
    served_model_name: str
    """vLLM's ``model_name`` label (the first --served-model-name)."""
    namespace: str
    replicas: int
    ttft_slo_ms: int
    gpu_memory_utilization: float = 0.90


@dataclass(frozen=True, kw_only=True)
class NodePrice:
    """The hourly price of one GPU instance type in one pool (catalog price for the pool's capacity)."""

    pool: str
    instance_type: str
    usd_per_hour: float


@dataclass(frozen=True, kw_only=True)
class Thresholds:
    queue_depth: int = 10
    """Waiting requests on one replica."""
    queue_minutes: int = 5
    kv_cache_usage_ratio: float = 0.90
    gpu_temp_celsius: float = 80
    gpu_memory_ratio: float = 0.90
    """Raised automatically above vLLM's own --gpu-memory-utilization (see gpu_memory_threshold)."""
    gateway_error_ratio: float = 0.05
    fallback_ratio: float = 0.10
    not_ready_minutes: int = 15


@dataclass(frozen=True, kw_only=True)
class AutoscaledModel:
    """A model server KEDA scales on its queue (components/k8s/keda.py)."""

    key: str
    """Model key; also its Deployment's name."""
    served_model_name: str
    namespace: str
    max_replicas: int
    queue_per_replica: float
    """The Prometheus trigger's threshold: waiting requests per replica."""
    scale_up_minutes: int
    """How long a new replica may take to serve: its cold start plus a GPU node's provisioning."""


@dataclass(frozen=True, kw_only=True)
class RulesSpec:
    models: tuple[ModelTarget, ...]
    self_hosted_tiers: tuple[str, ...] = ()
    """Gateway tiers served by self-hosted models: requests to them answered by a provider are fallbacks."""
    gateway_namespace: str = "strait-gateway"
    node_prices: tuple[NodePrice, ...] = ()
    monthly_budget_usd: float | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    pool_label: str = POOL_LABEL
    """Node label naming the GPU pool; kube-state-metrics exports it as ``label_strait_dev_pool``."""
    autoscaled: tuple[AutoscaledModel, ...] = ()
    """Model servers under a KEDA QueueAutoscaler: they get the scaling alerts. Default: none."""
    overflow_tiers: tuple[str, ...] = ()
    """Tiers with queue-aware overflow (gateway.tiers.<t>.overflow_queue_depth): a sustained overflow share alerts.
    Default: none."""


def ksm_label(node_label: str) -> str:
    """The label kube-state-metrics gives a Kubernetes label in ``kube_*_labels`` (``label_`` + sanitised)."""
    return "label_" + re.sub(r"[^a-zA-Z0-9_]", "_", node_label)


def gpu_memory_threshold(spec: RulesSpec) -> float:
    """vLLM reserves --gpu-memory-utilization of each GPU up front, so framebuffer use sits at that level
    by design. Alert only above it (plus 5 points), never below, or the alert would always fire."""
    highest = max((m.gpu_memory_utilization for m in spec.models), default=0.0)
    return round(min(0.99, max(spec.thresholds.gpu_memory_ratio, highest + 0.05)), 4)


def _q(value: str) -> str:
    """A PromQL string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _regex(values: tuple[str, ...] | list[str]) -> str:
    # Tier names are DNS labels; '-' needs no escape outside a character class, so keep them readable.
    return "|".join(re.escape(v).replace("\\-", "-") for v in values)


def _alert(name: str, expr: str, for_: str, severity: str, summary: str, description: str, runbook: str,
           labels: dict[str, str] | None = None) -> dict:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity, **(labels or {})},
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook": runbook,
            "runbook_url": f"{RUNBOOK_DOC}#{name.lower()}",
        },
    }


def serving_rules(spec: RulesSpec) -> list[dict]:
    t = spec.thresholds
    rules = []
    for m in sorted(spec.models, key=lambda m: m.key):
        sel = f"{VLLM_MODEL_LABEL}={_q(m.served_model_name)}"
        slo_s = m.ttft_slo_ms / 1000
        lab = {"model": m.key}
        rules.append(_alert(
            "StraitTTFTAboveSLO",
            # vLLM's series, or SGLang's for an SGLang server (names from each pinned package; both label the
            # served model model_name).
            f"histogram_quantile(0.95, sum by (le, {VLLM_MODEL_LABEL}) "
            f"(rate(vllm:time_to_first_token_seconds_bucket{{{sel}}}[5m]) "
            f"or rate(sglang:time_to_first_token_seconds_bucket{{{sel}}}[5m]))) > {slo_s:g}",
            "10m", "warning",
            f"{m.key}: p95 time to first token above its {m.ttft_slo_ms} ms SLO",
            f"p95 TTFT of {m.served_model_name} is {{{{ $value | humanizeDuration }}}} (SLO {m.ttft_slo_ms} ms) for 10 minutes.",
            "Check the queue and KV-cache panels: a long queue means add replicas (gpu_pools max_size, models.replicas); "
            "a full KV cache means shorter max_model_len or more GPUs; neither means long prompts (prefill) dominate.",
            lab))
        rules.append(_alert(
            "StraitQueueDepthHigh",
            f"max by ({VLLM_MODEL_LABEL}) (vllm:num_requests_waiting{{{sel}}} or sglang:num_queue_reqs{{{sel}}}) "
            f"> {t.queue_depth}",
            f"{t.queue_minutes}m", "warning",
            f"{m.key}: more than {t.queue_depth} requests waiting on a replica",
            f"A replica of {m.served_model_name} has had {{{{ $value }}}} requests queued for {t.queue_minutes} minutes.",
            "Demand exceeds max_num_seqs x replicas. Scale out (models.replicas, pool max_size) or shift traffic "
            "to the commercial tier; check that no replica is down.",
            lab))
        rules.append(_alert(
            "StraitKVCacheFullPreempting",
            f"max by ({VLLM_MODEL_LABEL}) (vllm:kv_cache_usage_perc{{{sel}}} or sglang:token_usage{{{sel}}}) "
            f"> {t.kv_cache_usage_ratio:g} and on ({VLLM_MODEL_LABEL}) sum by ({VLLM_MODEL_LABEL}) "
            f"(increase(vllm:num_preemptions_total{{{sel}}}[10m]) "
            f"or increase(sglang:num_retracted_requests_total{{{sel}}}[10m])) > 0",
            "5m", "warning",
            f"{m.key}: KV cache over {t.kv_cache_usage_ratio:.0%} full and requests are being preempted",
            f"KV-cache usage of {m.served_model_name} is {{{{ $value | humanizePercentage }}}} and vLLM is preempting "
            "(recomputing) requests, which multiplies latency.",
            "Lower max_num_seqs or max_model_len, use kv_cache_dtype fp8 (Ada/Hopper), raise tensor parallelism, "
            "or add replicas. `strait plan` prints the KV budget per GPU.",
            lab))
        rules.append(_alert(
            "StraitModelServerDown",
            f"absent(up{{namespace={_q(m.namespace)}, service={_q(m.key)}}} == 1)",
            "5m", "critical",
            f"{m.key}: no model server is answering scrapes",
            f"Prometheus has not scraped a healthy {m.key} target in {m.namespace} for 5 minutes; the gateway is "
            "falling back to commercial providers (or failing).",
            f"kubectl -n {m.namespace} get pods -l app.kubernetes.io/instance={m.key}; kubectl describe the pod: "
            "Pending means no GPU node (pool capacity, spot reclaim); CrashLoop means read the vllm logs.",
            lab))
        rules.append(_alert(
            "StraitModelServerNotReady",
            f"kube_deployment_status_replicas_ready{{namespace={_q(m.namespace)}, deployment={_q(m.key)}}} "
            f"< kube_deployment_spec_replicas{{namespace={_q(m.namespace)}, deployment={_q(m.key)}}}",
            f"{t.not_ready_minutes}m", "warning",
            f"{m.key}: fewer ready replicas than desired",
            f"{{{{ $value }}}} of the desired replicas of {m.key} are ready, for {t.not_ready_minutes} minutes "
            "(longer than a model load).",
            f"kubectl -n {m.namespace} rollout status deploy/{m.key}; a replica stuck in startup usually waits "
            "for the weight cache (init container) or for a GPU node.",
            lab))
    return rules


def gpu_rules(spec: RulesSpec) -> list[dict]:
    t = spec.thresholds
    mem = gpu_memory_threshold(spec)
    return [
        _alert("StraitGpuTemperatureHigh",
               f"max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > {t.gpu_temp_celsius:g}",
               "5m", "warning",
               f"GPU above {t.gpu_temp_celsius:g} °C",
               "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }} °C for 5 minutes; it will throttle clocks.",
               "Check power and clocks on the GPU fleet dashboard; if one node runs hot persistently, cordon and drain it "
               "and let the node group replace it."),
        _alert("StraitGpuMemoryHigh",
               "max by (Hostname, gpu) (DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)) "
               f"> {mem:g}",
               "15m", "warning",
               f"GPU memory above {mem:.0%}",
               "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} uses {{ $value | humanizePercentage }} of its memory. "
               "vLLM reserves --gpu-memory-utilization up front; more than that means another process or a leak.",
               "List processes with nvidia-smi in the dcgm-exporter pod's node; an OOM next is likely. Restart the "
               "model server pod on that node."),
        _alert("StraitGpuXidError",
               "max by (Hostname, gpu) (max_over_time(DCGM_FI_DEV_XID_ERRORS[5m])) > 0",
               "0m", "critical",
               "GPU reported an XID error",
               "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}.",
               "Look the code up in NVIDIA's XID table. 48/63/64/74/79/94/95 mean hardware or driver trouble: cordon "
               "and drain the node and let the node group replace it; 13/31/43 are usually application faults."),
    ]


def gateway_rules(spec: RulesSpec) -> list[dict]:
    t = spec.thresholds
    # /metrics scrapes themselves are counted by LiteLLM with requested_model=""; leave them out.
    served = 'requested_model!=""'
    rules = [
        _alert("StraitGatewayErrorRate",
               f'sum(rate(litellm_proxy_failed_requests_metric_total{{{served}, exception_status!~"401|403"}}[5m])) '
               f"/ sum(rate(litellm_proxy_total_requests_metric_total{{{served}}}[5m])) > {t.gateway_error_ratio:g}",
               "5m", "critical",
               f"Gateway error rate above {t.gateway_error_ratio:.0%}",
               "{{ $value | humanizePercentage }} of gateway requests fail (after retries and fallbacks).",
               "Open the Gateway dashboard: errors by model group and exception class show whether self-hosted servers, "
               "a provider (keys, quota) or the gateway itself fails. kubectl -n " + spec.gateway_namespace +
               " logs deploy/litellm."),
    ]
    if spec.self_hosted_tiers:
        tiers = _q(_regex(spec.self_hosted_tiers))
        rules.append(_alert(
            "StraitGatewayFallbackRate",
            f"sum(rate(litellm_proxy_total_requests_metric_total{{requested_model=~{tiers}, "
            'api_provider!~"hosted_vllm|None|"}[10m])) '
            f"/ sum(rate(litellm_proxy_total_requests_metric_total{{requested_model=~{tiers}}}[10m])) "
            f"> {t.fallback_ratio:g}",
            "10m", "warning",
            f"More than {t.fallback_ratio:.0%} of self-hosted traffic is going to commercial APIs",
            "{{ $value | humanizePercentage }} of requests for self-hosted tiers were answered by a commercial provider "
            "(fallback). That costs money and sends prompts off-platform.",
            "Check StraitModelServerDown/NotReady and the Serving dashboard: fallbacks follow self-hosted failures, "
            "timeouts (tier timeout_seconds) or context-window overflows."))
    return rules


def scaling_rules(spec: RulesSpec) -> list[dict]:
    """For each autoscaled model server: the HPA at its ceiling while the queue stays deep, and replicas asked for
    but not serving for longer than a cold start plus a node's provisioning."""
    rules = []
    for m in sorted(spec.autoscaled, key=lambda m: m.key):
        sel = f"{VLLM_MODEL_LABEL}={_q(m.served_model_name)}"
        dep = f"namespace={_q(m.namespace)}, deployment={_q(m.key)}"
        lab = {"model": m.key}
        rules.append(_alert(
            "StraitAutoscalerAtMax",
            f"max(kube_deployment_spec_replicas{{{dep}}}) >= {m.max_replicas} and on () "
            f"(sum(vllm:num_requests_waiting{{{sel}}} or sglang:num_queue_reqs{{{sel}}}) / "
            f"count(vllm:num_requests_waiting{{{sel}}} or sglang:num_queue_reqs{{{sel}}}) > {m.queue_per_replica:g})",
            "15m", "warning",
            f"{m.key}: at its {m.max_replicas} replicas and the queue is still above {m.queue_per_replica:g} per replica",
            f"KEDA holds {m.key} at max_replicas and each replica still has more than {m.queue_per_replica:g} requests "
            "waiting: the gateway is overflowing to the commercial tier, or requests wait.",
            "Raise queue_autoscaling.models.<model>.max_replicas and the pool's max_size (the spend cap counts both), "
            "or accept the overflow; the Scale dashboard shows the queue per replica and the overflow.",
            lab))
        rules.append(_alert(
            "StraitScaleUpStalled",
            f"sum(kube_deployment_status_replicas_available{{{dep}}}) < sum(kube_deployment_spec_replicas{{{dep}}})",
            f"{m.scale_up_minutes}m", "warning",
            f"{m.key}: replicas asked for are not serving after {m.scale_up_minutes} minutes",
            f"The HPA asks for more {m.key} replicas than are available, for longer than a cold start plus a GPU "
            "node's provisioning.",
            f"kubectl -n {m.namespace} get pods -l app.kubernetes.io/instance={m.key}: Pending pods mean no GPU node "
            "(spot capacity gone and the on-demand fallback pool at its max_size, or a quota); see the node "
            "autoscaler's events.",
            lab))
    if spec.overflow_tiers:
        t, tiers = spec.thresholds, _q(_regex(spec.overflow_tiers))
        rules.append(_alert(
            "StraitGatewayOverflowSustained",
            f"sum(rate(strait_gateway_overflow_requests_total{{tier=~{tiers}}}[10m])) "
            f"/ sum(rate(litellm_proxy_total_requests_metric_total{{requested_model=~{tiers}}}[10m])) "
            f"> {t.fallback_ratio:g}",
            "15m", "warning",
            f"More than {t.fallback_ratio:.0%} of self-hosted traffic overflows to commercial APIs",
            "{{ $value | humanizePercentage }} of the requests for tiers with queue-aware overflow went to another "
            "tier because the engines' queue stayed deeper than overflow_queue_depth, for 15 minutes.",
            "The autoscalers are at their max or nodes are not coming (StraitAutoscalerAtMax, StraitScaleUpStalled): "
            "raise max_replicas and the pools' max_size, or accept the commercial spend (Scale dashboard)."))
    return rules


def cost_rules(spec: RulesSpec) -> list[dict]:
    """Recording rules for $/hour, and the budget alert when a monthly budget is set."""
    pool = ksm_label(spec.pool_label)
    itype = ksm_label("node.kubernetes.io/instance-type")
    rules: list[dict] = []
    for p in sorted(spec.node_prices, key=lambda p: (p.pool, p.instance_type)):
        rules.append({
            "record": "strait:node_cost_usd_per_hour",
            "expr": f"count(kube_node_labels{{{pool}={_q(p.pool)}, {itype}={_q(p.instance_type)}}}) * {p.usd_per_hour:g}",
            "labels": {"pool": p.pool, "instance_type": p.instance_type},
        })
    rules.append({
        "record": "strait:commercial_spend_usd_per_hour",
        "expr": "sum(rate(litellm_spend_metric_total[1h])) * 3600",
    })
    node_cost = "sum(strait:node_cost_usd_per_hour)" if spec.node_prices else "vector(0)"
    rules.append({
        "record": "strait:spend_usd_per_hour",
        "expr": f"({node_cost} or vector(0)) + (sum(strait:commercial_spend_usd_per_hour) or vector(0))",
    })
    if spec.monthly_budget_usd:
        rate_usd = spec.monthly_budget_usd / HOURS_PER_MONTH
        rules.append(_alert(
            "StraitSpendAboveBudgetRate",
            f"strait:spend_usd_per_hour > {rate_usd:.4f}",
            "30m", "warning",
            f"Spending faster than the ${spec.monthly_budget_usd:,.0f}/month budget (${rate_usd:.2f}/hour)",
            "GPU nodes plus commercial API spend run at ${{ $value | printf \"%.2f\" }}/hour, above the budget's "
            f"${rate_usd:.2f}/hour.",
            "Open the Cost dashboard: node $/hour by pool shows scale-out; commercial spend shows fallbacks or a "
            "commercial tier in heavy use. Lower pool max_size or fix the fallback cause."))
    return rules


def render_rule_groups(spec: RulesSpec) -> list[dict]:
    """Rule groups in the shape of a PrometheusRule ``spec.groups`` and of a promtool rule file."""
    groups = [
        {"name": "strait-serving", "rules": serving_rules(spec)},
        {"name": "strait-gpu", "rules": gpu_rules(spec)},
        {"name": "strait-gateway", "rules": gateway_rules(spec)},
        {"name": "strait-scaling", "rules": scaling_rules(spec)},
        {"name": "strait-cost", "interval": "1m", "rules": cost_rules(spec)},
    ]
    return [g for g in groups if g["rules"]]


def alert_names(groups: list[dict]) -> list[str]:
    return sorted({r["alert"] for g in groups for r in g["rules"] if "alert" in r})
