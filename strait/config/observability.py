"""The `observability` config section: Prometheus, alerts, dashboards and Langfuse. Pure pydantic.

Every key has a default, so a stack without the section gets the full stack with phase-1 sizing.
Cross-field checks (model keys, the external Langfuse host) are in :func:`check_observability`
and are reported like every other config issue: path, value, problem, fix.
"""
from __future__ import annotations

from typing import Literal, Protocol

from pydantic import Field, field_validator

from strait.config.errors import ConfigIssue
from strait.config.sections import ModelConfig, Name, StrictModel

LangfuseMode = Literal["self_hosted", "external", "off"]


class AlertThresholdsConfig(StrictModel):
    """Alert thresholds. Each alert's runbook is in docs/observability.md."""

    queue_depth: int = Field(10, ge=1, le=10000, description="Requests waiting on one vLLM replica before "
                             "StraitQueueDepthHigh. Default: 10.")
    queue_minutes: int = Field(5, ge=1, le=120, description="How long the queue must stay that deep. Default: 5.")
    kv_cache_usage_ratio: float = Field(0.90, gt=0.5, lt=1, description="KV-cache usage (0-1) above which preemptions "
                                        "page (StraitKVCacheFullPreempting). Default: 0.90.")
    gpu_temp_celsius: float = Field(80, ge=50, le=100, description="GPU temperature alert, in °C. Default: 80.")
    gpu_memory_ratio: float = Field(0.90, gt=0.5, lt=1, description="GPU framebuffer use alert (0-1). Raised "
                                    "automatically to 5 points above the highest vLLM gpu_memory_utilization, which "
                                    "vLLM reserves by design. Default: 0.90.")
    gateway_error_ratio: float = Field(0.05, gt=0, lt=1, description="Share of gateway requests failing. Default: 0.05.")
    fallback_ratio: float = Field(0.10, gt=0, lt=1, description="Share of self-hosted-tier traffic answered by a "
                                  "commercial API. Default: 0.10.")
    not_ready_minutes: int = Field(15, ge=1, le=240, description="How long a model Deployment may have fewer ready "
                                   "replicas than desired (model loads take minutes). Default: 15.")


class LangfuseConfig(StrictModel):
    """LLM tracing: every gateway request becomes a Langfuse trace."""

    mode: LangfuseMode = Field(
        "self_hosted", description="'self_hosted': Langfuse in the cluster (official chart, S3 via Pod Identity); "
        "'external': an existing Langfuse at `host` (keys: secrets strait:langfuse_public_key/_secret_key); "
        "'off': no tracing. Default: self_hosted.")
    host: str | None = Field(None, description="Base URL of an external Langfuse (https://...). Only for mode external.")
    callback: Literal["langfuse_otel", "langfuse"] = Field(
        "langfuse_otel", description="LiteLLM callback. 'langfuse_otel' (OpenTelemetry, no SDK in the image); "
        "'langfuse' needs the langfuse SDK >=4.7,<5 in the gateway image. Default: langfuse_otel.")
    clickhouse_storage_gib: int = Field(50, ge=10, le=16384, description="ClickHouse volume (traces). Default: 50.")
    postgres_storage_gib: int = Field(20, ge=5, le=16384, description="Postgres volume (users, projects). Default: 20.")
    trace_retention_days: int = Field(30, ge=1, le=3650, description="S3 lifecycle on raw event uploads. Default: 30.")

    @field_validator("host")
    @classmethod
    def _host(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError("not a URL || write it like https://langfuse.example.com")
        return v.rstrip("/") if v else v


class AlertingConfig(StrictModel):
    """Who hears about alerts (Alertmanager receivers) and the SLO burn-rate alerts. docs/alerting.md."""

    pagerduty: bool = Field(False, description="Page PagerDuty (Events API v2) for critical alerts. Needs the secret "
                            "strait:pagerduty_routing_key. Default: false (no paging).")
    slack_channel: str | None = Field(None, description="Slack channel ('#name') for critical and warning alerts. "
                                      "Needs the secret strait:slack_webhook_url (an incoming webhook). Default: no Slack.")
    repeat_interval_hours: int = Field(4, ge=1, le=168, description="Re-notify a still-firing alert this often. "
                                       "Default: 4.")
    slo_alerts: bool = Field(False, description="Multi-window burn-rate alerts on each model's TTFT p95 SLO "
                             "(ttft_slo_ms) and each tier's error rate (docs/runbooks). Default: false.")
    availability_slo: float = Field(0.99, ge=0.9, le=0.9999, description="Share of a tier's requests that must "
                                    "succeed over 30 days (error-rate SLO). Default: 0.99.")

    @field_validator("slack_channel")
    @classmethod
    def _channel(cls, v: str | None) -> str | None:
        from strait.render.alertmanager import SLACK_CHANNEL

        if v is not None and not SLACK_CHANNEL.match(v):
            raise ValueError("not a Slack channel name || write it like '#llm-alerts' (lower case, digits, '-', '_')")
        return v


class ObservabilityConfig(StrictModel):
    """Prometheus + Grafana (kube-prometheus-stack), DCGM exporter, alerts, dashboards and Langfuse."""

    enabled: bool = Field(True, description="Deploy the monitoring stack. Default: true.")
    retention_days: int = Field(15, ge=1, le=365, description="Prometheus retention. Default: 15 days (phase 1).")
    prometheus_storage_gib: int = Field(50, ge=10, le=16384, description="Prometheus volume (gp3). Default: 50 GiB; "
                                        "retention by size is set to 85% of it so the disk never fills.")
    grafana_storage_gib: int = Field(5, ge=1, le=1024, description="Grafana volume (users, annotations). Default: 5.")
    default_ttft_slo_ms: int = Field(500, ge=50, le=120000, description="p95 time-to-first-token SLO of interactive "
                                     "models, in ms. Default: 500.")
    ttft_slo_ms: dict[Name, int] = Field(default_factory=dict, description="Per-model TTFT SLO in ms, keyed by model. "
                                         "Default: default_ttft_slo_ms for every model.")
    alerts: AlertThresholdsConfig = Field(default_factory=AlertThresholdsConfig)
    langfuse: LangfuseConfig = Field(default_factory=LangfuseConfig)
    alerting: AlertingConfig = Field(default_factory=AlertingConfig, description="Alertmanager receivers and SLO "
                                     "alerts. Default: alerts route to nobody, no SLO alerts.")

    def slo_ms(self, model_key: str) -> int:
        return self.ttft_slo_ms.get(model_key, self.default_ttft_slo_ms)


class _HasObservability(Protocol):
    models: dict[str, ModelConfig]
    observability: ObservabilityConfig


def check_observability(cfg: _HasObservability) -> list[ConfigIssue]:
    o = cfg.observability
    issues = []
    for key, ms in sorted(o.ttft_slo_ms.items()):
        if key not in cfg.models:
            issues.append(ConfigIssue(f"observability.ttft_slo_ms.{key}", key, "no model has this name",
                                      f"use one of: {', '.join(sorted(cfg.models))}"))
        if not 50 <= ms <= 120000:
            issues.append(ConfigIssue(f"observability.ttft_slo_ms.{key}", ms, "a TTFT SLO must be 50-120000 ms",
                                      "give the p95 time to first token in milliseconds, e.g. 500"))
    lf = o.langfuse
    if lf.mode == "external" and not lf.host:
        issues.append(ConfigIssue("observability.langfuse.host", None, "mode 'external' needs the Langfuse URL",
                                  "set host: https://your-langfuse, or use mode: self_hosted"))
    if lf.mode != "external" and lf.host:
        issues.append(ConfigIssue("observability.langfuse.host", lf.host, f"host is only used with mode 'external' "
                                  f"(mode is '{lf.mode}')", "remove host, or set mode: external"))
    if lf.mode == "self_hosted" and not o.enabled:
        pass  # Langfuse does not need Prometheus; allowed on purpose.
    return issues


def langfuse_secret_issues(cfg, present: set[str] | frozenset[str]) -> list[ConfigIssue]:
    """An external Langfuse needs its project keys as Pulumi secrets (self-hosted keys are generated)."""
    o = getattr(cfg, "observability", None)
    if o is None or o.langfuse.mode != "external":
        return []
    return [ConfigIssue("observability.langfuse.mode", "external", f"needs the secret strait:{k}, which is not set",
                        f"run `pulumi config set --secret strait:{k} <key from the Langfuse project settings>`")
            for k in ("langfuse_public_key", "langfuse_secret_key") if k not in present]


#: Secret each alert receiver needs, by the config switch that turns it on.
ALERTING_SECRETS = {"pagerduty": "pagerduty_routing_key", "slack_channel": "slack_webhook_url"}


def alerting_secret_issues(cfg, present: set[str] | frozenset[str]) -> list[ConfigIssue]:
    """A receiver that is on needs its credential as a Pulumi secret; a credential without its receiver is a
    forgotten switch (it would be ignored)."""
    o = getattr(cfg, "observability", None)
    if o is None:
        return []
    a = o.alerting
    issues = []
    for switch, key in ALERTING_SECRETS.items():
        value = getattr(a, switch)
        on = value not in (None, False)
        if on and key not in present:
            how = ("the PagerDuty service's Events API v2 integration key" if key == "pagerduty_routing_key"
                   else "the Slack app's incoming-webhook URL")
            issues.append(ConfigIssue(f"observability.alerting.{switch}", value, f"needs the secret strait:{key}, "
                                      "which is not set", f"run `pulumi config set --secret strait:{key} <{how}>`"))
        if not on and key in present:
            issues.append(ConfigIssue(f"observability.alerting.{switch}", value, f"the secret strait:{key} is set but "
                                      f"observability.alerting.{switch} is off, so it would be ignored",
                                      f"turn observability.alerting.{switch} on, or `pulumi config rm strait:{key}`"))
    return issues


def alerting_secrets_on(raw: dict) -> set[str]:
    """The receivers' secret keys a raw (unvalidated) ``strait:`` namespace turns on: what the offline plan must
    fill with placeholders, as it does the providers' keys (strait/cli.py), for such a stack to plan."""
    import json

    obs = raw.get("observability")
    if isinstance(obs, str):
        try:
            obs = json.loads(obs)
        except json.JSONDecodeError:
            return set()
    a = obs.get("alerting") if isinstance(obs, dict) else None
    if not isinstance(a, dict):
        return set()
    return {key for switch, key in ALERTING_SECRETS.items() if a.get(switch) not in (None, False, "false", "")}
