"""SLO alerts per model and per tier, multi-window and multi-burn-rate. Pure: no pulumi import.

Two objectives:

- **TTFT p95** of each self-hosted model: 95% of requests get their first token within the model's
  ``ttft_slo_ms``. The error budget is the 5% of requests allowed to be slower. "Slower" is read from the
  engine's TTFT histogram (vLLM ``vllm:time_to_first_token_seconds``, SGLang ``sglang:time_to_first_token_seconds``)
  at the largest bucket boundary within the SLO, so a threshold between two buckets errs on the strict side.
- **Error rate** of each gateway tier (LiteLLM's ``litellm_proxy_failed_requests_metric_total`` over
  ``litellm_proxy_total_requests_metric_total``, by ``requested_model`` = the tier; 401/403 are client key
  errors and do not spend the budget).

Burn rates and windows are the Google SRE Workbook's ("Alerting on SLOs", table 5-8, for a 30-day SLO):
page when 2% of the month's budget burns in 1 h (14.4x, checked over 1 h and 5 min) or 5% in 6 h (6x, over 6 h
and 30 min); open a ticket when 10% burns in 3 days (1x, over 3 days and 6 h). The short window makes the
alert stop soon after the burn stops. The page and the ticket share one alert name with different severities,
so Alertmanager's inhibition (strait/render/alertmanager.py) keeps only the page while both fire.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Engine = Literal["vllm", "sglang"]

#: Where the runbooks live, relative to the repository root; every SLO alert links one file there.
RUNBOOK_DIR = "docs/runbooks"
TTFT_ALERT = "StraitTTFTBudgetBurn"
ERROR_ALERT = "StraitTierErrorBudgetBurn"
RUNBOOKS = {TTFT_ALERT: "ttft-budget-burn.md", ERROR_ALERT: "tier-error-budget-burn.md"}

#: TTFT histogram of each pinned engine: metric, the label carrying the served model name, and the bucket
#: boundaries in seconds. vLLM 0.33.0: vllm/v1/metrics/buckets.py histogram_buckets("time_to_first_token");
#: SGLang 0.5.23: sglang/srt/observability/metrics_collector.py bucket_time_to_first_token (its histogram also
#: carries `is_streaming`, summed away here). tests/alerting checks both against the installed packages.
TTFT_HISTOGRAMS: dict[str, tuple[str, str, tuple[float, ...]]] = {
    "vllm": ("vllm:time_to_first_token_seconds", "model_name",
             (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
              40.0, 80.0, 160.0, 640.0, 2560.0)),
    "sglang": ("sglang:time_to_first_token_seconds", "model_name",
               (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0)),
}

#: LiteLLM 1.109.1 gateway counters (names checked against a real proxy's /metrics in tests/observability).
GATEWAY_TOTAL = "litellm_proxy_total_requests_metric_total"
GATEWAY_FAILED = "litellm_proxy_failed_requests_metric_total"
CLIENT_ERRORS = "401|403"


@dataclass(frozen=True, kw_only=True)
class BurnWindow:
    """One multi-window burn-rate condition: the error ratio exceeds ``burn_rate`` x budget over both windows."""

    long: str
    short: str
    burn_rate: float
    severity: Literal["critical", "warning"]


#: SRE Workbook table 5-8: two paging conditions and one ticket.
WORKBOOK_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow(long="1h", short="5m", burn_rate=14.4, severity="critical"),
    BurnWindow(long="6h", short="30m", burn_rate=6, severity="critical"),
    BurnWindow(long="3d", short="6h", burn_rate=1, severity="warning"),
)


@dataclass(frozen=True, kw_only=True)
class LatencySlo:
    """p95 time-to-first-token objective of one self-hosted model."""

    model: str
    """Model key (the ``model`` label of the alert)."""
    served_model_name: str
    """The engine's ``model_name`` label (the first served model name)."""
    engine: Engine = "vllm"
    ttft_ms: int
    objective: float = 0.95
    """Share of requests that must be within ``ttft_ms``. Default: 0.95 (p95)."""


@dataclass(frozen=True, kw_only=True)
class ErrorSlo:
    """Availability objective of one gateway tier."""

    tier: str
    availability: float = 0.99
    """Share of requests that must succeed over 30 days. Default: 0.99."""


@dataclass(frozen=True, kw_only=True)
class SloSpec:
    latency: tuple[LatencySlo, ...] = ()
    errors: tuple[ErrorSlo, ...] = ()
    windows: tuple[BurnWindow, ...] = WORKBOOK_WINDOWS
    runbook_base_url: str = RUNBOOK_DIR
    """Prefix of every ``runbook_url``: the repository path, or e.g. your fork's https://.../blob/main/docs/runbooks.
    Default: docs/runbooks."""


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def le_label(seconds: float) -> str:
    """A bucket's ``le`` as exposed: prometheus_client writes floats the Go way (1 -> "1.0"), and Prometheus 3
    normalises classic-histogram ``le`` values to the same form at ingestion."""
    return repr(float(seconds))


def slo_bucket(engine: str, ttft_ms: int) -> float:
    """The largest bucket boundary of the engine's TTFT histogram at or below the SLO."""
    buckets = TTFT_HISTOGRAMS[engine][2]
    fit = [b for b in buckets if b <= ttft_ms / 1000 + 1e-12]
    if not fit:
        raise ValueError(f"a TTFT SLO of {ttft_ms} ms is below {engine}'s smallest TTFT bucket "
                         f"({buckets[0] * 1000:g} ms): it cannot be measured; raise it to at least that")
    return fit[-1]


def windows_of(spec: SloSpec) -> list[str]:
    return sorted({w for b in spec.windows for w in (b.long, b.short)}, key=_seconds)


def _seconds(d: str) -> int:
    m = re.fullmatch(r"(\d+)([smhd])", d)
    if not m:
        raise ValueError(f"window {d!r}: write it like 5m, 6h or 3d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def _check(spec: SloSpec) -> None:
    budgets = [(f"model {s.model}", 1 - s.objective) for s in spec.latency]
    budgets += [(f"tier {s.tier}", 1 - s.availability) for s in spec.errors]
    for who, budget in budgets:
        if not 0 < budget < 1:
            raise ValueError(f"{who}: the objective must be between 0 and 1 (exclusive), leaving a budget of {budget:g}")
        for w in spec.windows:
            if w.burn_rate * budget >= 1:
                raise ValueError(f"{who}: a {w.burn_rate:g}x burn of a {budget:g} budget needs an error ratio of "
                                 f"{w.burn_rate * budget:g}, which can never happen: raise the objective")
    for w in spec.windows:
        if _seconds(w.short) >= _seconds(w.long):
            raise ValueError(f"burn window {w.long}/{w.short}: the short window must be shorter than the long one")


def ttft_recording_rules(spec: SloSpec) -> list[dict]:
    """``strait:ttft_slow_ratio:rate<window>{model}``: the share of requests slower than the SLO's bucket."""
    rules = []
    for s in sorted(spec.latency, key=lambda s: s.model):
        metric, label, _ = TTFT_HISTOGRAMS[s.engine]
        sel = f"{label}={_q(s.served_model_name)}"
        le = le_label(slo_bucket(s.engine, s.ttft_ms))
        for w in windows_of(spec):
            rules.append({
                "record": f"strait:ttft_slow_ratio:rate{w}",
                "expr": f"1 - (sum(rate({metric}_bucket{{{sel}, le={_q(le)}}}[{w}])) "
                        f"/ sum(rate({metric}_count{{{sel}}}[{w}])))",
                "labels": {"model": s.model},
            })
    return rules


def error_recording_rules(spec: SloSpec) -> list[dict]:
    """``strait:tier_error_ratio:rate<window>{tier}``: the share of a tier's requests that failed."""
    rules = []
    for s in sorted(spec.errors, key=lambda s: s.tier):
        tier = f"requested_model={_q(s.tier)}"
        for w in windows_of(spec):
            rules.append({
                "record": f"strait:tier_error_ratio:rate{w}",
                # `or vector(0)`: a tier with traffic and no failure yet has no failed series at all.
                "expr": f"(sum(rate({GATEWAY_FAILED}{{{tier}, exception_status!~{_q(CLIENT_ERRORS)}}}[{w}])) or vector(0)) "
                        f"/ sum(rate({GATEWAY_TOTAL}{{{tier}}}[{w}]))",
                "labels": {"tier": s.tier},
            })
    return rules


def _burn_expr(record: str, label: str, value: str, budget: float, windows: list[BurnWindow]) -> str:
    parts = []
    for w in windows:
        threshold = f"{w.burn_rate * budget:.6g}"
        sel = f"{{{label}={_q(value)}}}"
        parts.append(f"({record}:rate{w.long}{sel} > {threshold} and {record}:rate{w.short}{sel} > {threshold})")
    return " or ".join(parts)


def _runbook(spec: SloSpec, alert: str) -> str:
    return f"{spec.runbook_base_url.rstrip('/')}/{RUNBOOKS[alert]}"


def _by_severity(spec: SloSpec) -> list[tuple[str, list[BurnWindow]]]:
    out = []
    for sev in ("critical", "warning"):
        ws = [w for w in spec.windows if w.severity == sev]
        if ws:
            out.append((sev, ws))
    return out


def _for(severity: str) -> str:
    # A page must be quick; a ticket may wait for the condition to hold a while.
    return "2m" if severity == "critical" else "1h"


def ttft_alerts(spec: SloSpec) -> list[dict]:
    rules = []
    for s in sorted(spec.latency, key=lambda s: s.model):
        budget = 1 - s.objective
        bucket = slo_bucket(s.engine, s.ttft_ms)
        for sev, ws in _by_severity(spec):
            fastest = max(ws, key=lambda w: w.burn_rate)
            rules.append({
                "alert": TTFT_ALERT,
                "expr": _burn_expr("strait:ttft_slow_ratio", "model", s.model, budget, ws),
                "for": _for(sev),
                "labels": {"severity": sev, "model": s.model, "slo": "ttft_p95"},
                "annotations": {
                    "summary": f"{s.model}: TTFT p{s.objective * 100:g} SLO ({s.ttft_ms} ms) error budget burning "
                               f"{'fast' if sev == 'critical' else 'steadily'}",
                    "description": f"{{{{ $value | humanizePercentage }}}} of {s.served_model_name}'s requests took longer "
                                   f"than {bucket * 1000:g} ms to the first token (the SLO allows {budget:.0%}); at "
                                   f"{fastest.burn_rate:g}x the 30-day budget is gone in "
                                   f"{30 / fastest.burn_rate:.1f} days.",
                    "runbook_url": _runbook(spec, TTFT_ALERT),
                },
            })
    return rules


def error_alerts(spec: SloSpec) -> list[dict]:
    rules = []
    for s in sorted(spec.errors, key=lambda s: s.tier):
        budget = 1 - s.availability
        for sev, ws in _by_severity(spec):
            fastest = max(ws, key=lambda w: w.burn_rate)
            rules.append({
                "alert": ERROR_ALERT,
                "expr": _burn_expr("strait:tier_error_ratio", "tier", s.tier, budget, ws),
                "for": _for(sev),
                "labels": {"severity": sev, "tier": s.tier, "slo": "availability"},
                "annotations": {
                    "summary": f"tier {s.tier}: availability SLO ({s.availability:.2%}) error budget burning "
                               f"{'fast' if sev == 'critical' else 'steadily'}",
                    "description": f"{{{{ $value | humanizePercentage }}}} of requests to tier {s.tier} fail after retries "
                                   f"and fallbacks (the SLO allows {budget:.2%}); at {fastest.burn_rate:g}x the 30-day "
                                   f"budget is gone in {30 / fastest.burn_rate:.1f} days.",
                    "runbook_url": _runbook(spec, ERROR_ALERT),
                },
            })
    return rules


def slo_rule_groups(spec: SloSpec) -> list[dict]:
    """Rule groups (PrometheusRule ``spec.groups`` / a promtool rule file): recordings first, then the alerts."""
    _check(spec)
    groups = [
        {"name": "strait-slo-recordings", "interval": "1m",
         "rules": ttft_recording_rules(spec) + error_recording_rules(spec)},
        {"name": "strait-slo-alerts", "rules": ttft_alerts(spec) + error_alerts(spec)},
    ]
    return [g for g in groups if g["rules"]]


def slo_spec(cfg, *, runbook_base_url: str = RUNBOOK_DIR) -> SloSpec:
    """From a validated stack config (any blueprint with ``models``, ``gateway.tiers`` and ``observability``):
    every self-hosted model's TTFT SLO and every tier's availability SLO. Empty when ``slo_alerts`` is off."""
    o = cfg.observability
    if not o.alerting.slo_alerts:
        return SloSpec(runbook_base_url=runbook_base_url)
    latency = tuple(LatencySlo(model=k, served_model_name=m.served_model_name or k, engine=m.engine,
                               ttft_ms=o.slo_ms(k)) for k, m in sorted(cfg.models.items()))
    errors = tuple(ErrorSlo(tier=t, availability=o.alerting.availability_slo) for t in sorted(cfg.gateway.tiers))
    return SloSpec(latency=latency, errors=errors, runbook_base_url=runbook_base_url)
