"""Alertmanager's configuration: who is told about an alert, and which alerts silence others. Pure: no pulumi.

Routing by severity: ``critical`` pages PagerDuty *and* posts to Slack, ``warning`` posts to Slack only;
anything else (kube-prometheus-stack's ``info`` alerts, its ``Watchdog`` heartbeat) reaches nobody.

Credentials never enter this config: PagerDuty's routing key and Slack's webhook URL are read from files
(``routing_key_file``, ``api_url_file``) that the Prometheus Operator mounts from a Kubernetes Secret listed in
``alertmanagerSpec.secrets`` (at ``/etc/alertmanager/secrets/<secret>/<key>``). The config itself can therefore
live in Helm values and in the plan without exposing anything. Both ``*_file`` keys exist in every Alertmanager
from 0.25 (the version Debian's amtool judges this with, tests/alerting) to 0.34 (kube-prometheus-stack 88.5.x).

The result replaces kube-prometheus-stack's default ``alertmanager.config``. Helm merges maps and replaces
lists, so every top-level key of the chart default (``global``, ``route``, ``receivers``, ``inhibit_rules``,
``templates``) is set here: what Alertmanager runs is exactly this dict.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: The Secret holding the receivers' credentials, and where the operator mounts it in the Alertmanager pod.
RECEIVERS_SECRET = "alertmanager-receivers"
SECRETS_DIR = "/etc/alertmanager/secrets"
PAGERDUTY_KEY = "pagerduty-routing-key"
SLACK_KEY = "slack-webhook-url"

NULL_RECEIVER = "null"
PAGERDUTY_RECEIVER = "pagerduty"
SLACK_RECEIVER = "slack"

#: Alerts that say nothing about a model's latency while its server is down (they would all fire at once).
LATENCY_ALERTS = ("StraitTTFTAboveSLO", "StraitTTFTBudgetBurn", "StraitQueueDepthHigh", "StraitKVCacheFullPreempting")
#: The alert that means a self-hosted model (the backend of a tier) is down.
DOWN_ALERT = "StraitModelServerDown"

#: Slack channel names: lower case letters, digits, '-', '_' (at most 80), written with the leading '#'.
SLACK_CHANNEL = re.compile(r"^#[a-z0-9][a-z0-9_-]{0,79}$")


@dataclass(frozen=True, kw_only=True)
class ReceiversSpec:
    """Who hears about alerts. With neither receiver the config still routes and inhibits, to nobody."""

    pagerduty: bool = False
    """Page PagerDuty (Events API v2) for ``critical`` alerts. Default: no paging."""
    slack_channel: str | None = None
    """Post ``critical`` and ``warning`` alerts to this Slack channel (``#name``) through the incoming webhook.
    Default: no Slack."""
    group_by: tuple[str, ...] = ("alertname", "namespace", "model", "tier")
    """One notification per alert and model or tier. Default: as shown."""
    group_wait_seconds: int = 30
    group_interval_minutes: int = 5
    repeat_interval_hours: int = 4
    """Re-notify a still-firing alert this often. Default: 4 hours."""
    send_resolved: bool = True
    """Tell the receivers when an alert resolves. Default: yes."""
    secret_name: str = RECEIVERS_SECRET
    """The Secret with the credentials, mounted by the operator. Default: alertmanager-receivers."""

    def __post_init__(self) -> None:
        if self.slack_channel is not None and not SLACK_CHANNEL.match(self.slack_channel):
            raise ValueError(f"slack_channel {self.slack_channel!r} is not a Slack channel name: write it like "
                             "'#llm-alerts' (lower case, digits, '-' and '_')")
        for name, value in (("group_wait_seconds", self.group_wait_seconds),
                            ("group_interval_minutes", self.group_interval_minutes),
                            ("repeat_interval_hours", self.repeat_interval_hours)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")


def secret_file(spec: ReceiversSpec, key: str) -> str:
    """Path of one credential inside the Alertmanager pod."""
    return f"{SECRETS_DIR}/{spec.secret_name}/{key}"


def secret_keys(spec: ReceiversSpec) -> tuple[str, ...]:
    """The keys the receivers' Secret must hold (PagerDuty's routing key, Slack's webhook URL)."""
    return tuple(k for k, on in ((PAGERDUTY_KEY, spec.pagerduty), (SLACK_KEY, spec.slack_channel is not None)) if on)


def _m(label: str, op: str, value: str) -> str:
    """One Alertmanager matcher, value double-quoted (the 0.22+ syntax)."""
    return f'{label}{op}"{value}"'


def receivers(spec: ReceiversSpec) -> list[dict]:
    out: list[dict] = [{"name": NULL_RECEIVER}]
    if spec.pagerduty:
        out.append({"name": PAGERDUTY_RECEIVER, "pagerduty_configs": [{
            "routing_key_file": secret_file(spec, PAGERDUTY_KEY),
            "send_resolved": spec.send_resolved,
            "severity": "{{ .CommonLabels.severity }}",
            "description": "{{ .CommonLabels.alertname }}: {{ .CommonAnnotations.summary }}",
            "details": {"runbook": "{{ .CommonAnnotations.runbook_url }}",
                        "model": "{{ .CommonLabels.model }}", "tier": "{{ .CommonLabels.tier }}"},
        }]})
    if spec.slack_channel is not None:
        out.append({"name": SLACK_RECEIVER, "slack_configs": [{
            "api_url_file": secret_file(spec, SLACK_KEY),
            "channel": spec.slack_channel,
            "send_resolved": spec.send_resolved,
            "title": "[{{ .Status | toUpper }}] {{ .CommonLabels.severity }}: {{ .CommonLabels.alertname }}",
            "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n"
                    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}",
        }]})
    return out


def routes(spec: ReceiversSpec) -> list[dict]:
    # kube-prometheus-stack's always-firing heartbeat and its info-level inhibitor reach nobody.
    out: list[dict] = [{"receiver": NULL_RECEIVER, "matchers": [_m("alertname", "=~", "Watchdog|InfoInhibitor")]}]
    if spec.pagerduty:
        # continue: a critical alert goes on to Slack as well.
        out.append({"receiver": PAGERDUTY_RECEIVER, "matchers": [_m("severity", "=", "critical")], "continue": True})
    if spec.slack_channel is not None:
        out.append({"receiver": SLACK_RECEIVER, "matchers": [_m("severity", "=~", "critical|warning")]})
    return out


def inhibit_rules() -> list[dict]:
    same = ["alertname", "namespace", "model", "tier"]
    return [
        # A critical alert (fast burn) silences the warning (slow burn) of the same alert, model and tier.
        {"source_matchers": [_m("severity", "=", "critical")], "target_matchers": [_m("severity", "=~", "warning|info")],
         "equal": same},
        {"source_matchers": [_m("severity", "=", "warning")], "target_matchers": [_m("severity", "=", "info")],
         "equal": same},
        # A model whose servers are down has no latency worth paging about.
        {"source_matchers": [_m("alertname", "=", DOWN_ALERT)],
         "target_matchers": [_m("alertname", "=~", "|".join(LATENCY_ALERTS))], "equal": ["model"]},
        # kube-prometheus-stack's own convention (chart default): InfoInhibitor silences info alerts.
        {"source_matchers": [_m("alertname", "=", "InfoInhibitor")], "target_matchers": [_m("severity", "=", "info")],
         "equal": ["namespace"]},
    ]


def render_alertmanager_config(spec: ReceiversSpec) -> dict:
    """The whole Alertmanager config (``alertmanager.yaml``), in the shape of kube-prometheus-stack's
    ``alertmanager.config`` value."""
    return {
        "global": {"resolve_timeout": "5m"},
        "route": {
            "receiver": NULL_RECEIVER,
            "group_by": list(spec.group_by),
            "group_wait": f"{spec.group_wait_seconds}s",
            "group_interval": f"{spec.group_interval_minutes}m",
            "repeat_interval": f"{spec.repeat_interval_hours}h",
            "routes": routes(spec),
        },
        "receivers": receivers(spec),
        "inhibit_rules": inhibit_rules(),
        # The chart's default; kept so that Helm's merge leaves nothing of the default behind.
        "templates": ["/etc/alertmanager/config/*.tmpl"],
    }


def receivers_spec(alerting) -> ReceiversSpec:
    """From the ``observability.alerting`` config section (strait/config/observability.py AlertingConfig)."""
    return ReceiversSpec(pagerduty=alerting.pagerduty, slack_channel=alerting.slack_channel,
                         repeat_interval_hours=alerting.repeat_interval_hours)
