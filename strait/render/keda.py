"""KEDA ScaledObjects for model servers: scale on the engine's own queue, with a business-hours cron floor.

Pure: no pulumi import, no cloud. ``components/k8s/keda.py`` wraps what these return; the policies and
tests read them back.

How the queue trigger scales (KEDA 2.21 ``prometheus`` scaler, pkg/scalers/prometheus_scaler.go): KEDA
hands the HPA an External metric whose target type is ``AverageValue`` (the default, GetMetricTargetType
in pkg/scalers/scaler.go) and whose value is what the query returns. For an External metric with an
AverageValue target the HPA divides the metric by the current replica count and compares that to the
target, so desired replicas = ceil(query result / threshold). The query must therefore return the
*total* queue over every replica of the model (``sum(...)``), and ``threshold`` is the queue each replica
may hold: "averaged per replica" is done by the HPA. (An ``avg(...)`` query would be divided by the
replica count a second time and under-scale by that factor.) KEDA also refuses a query that returns more
than one series, which ``sum`` without ``by`` never does.

How the cron trigger works (pkg/scalers/cron_scaler.go): inside [start, end) it reports
``desiredReplicas`` against an AverageValue target of 1, so it asks for exactly that many replicas;
outside it reports 0. The HPA takes the highest of all triggers, so the cron floor and the queue add up
to max(floor, queue demand), and ``minReplicaCount`` (>= 1) is the warm standby underneath both. The
window is "active" when the next end comes before the next start, evaluated in ``timezone`` with Go's
time.LoadLocation; both schedules are parsed by robfig/cron with five fields (no seconds, no @daily).
"""
from __future__ import annotations

import functools
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

KEDA_API_VERSION = "keda.sh/v1alpha1"
SCALED_OBJECT = "ScaledObject"

#: The label both engines put the served model name in (vLLM's ``model_name``; SGLang's scheduler
#: collector labels ``model_name`` with ``served_model_name``).
MODEL_LABEL = "model_name"


@dataclass(frozen=True)
class QueueMetric:
    name: str
    """A gauge of requests waiting for a batch slot on one server."""
    matchers: Mapping[str, str] = field(default_factory=dict)
    """Extra label matchers that keep the query to one series per server."""


#: The engine's own waiting-queue gauge.
#: vLLM 0.33.0: ``vllm:num_requests_waiting`` (tests/data/metrics/vllm-0.33.0.json).
#: SGLang 0.5.23: ``sglang:num_queue_reqs`` ("The number of requests in the waiting queue",
#: sglang/srt/observability/metrics_collector.py). With priority scheduling SGLang writes the total under
#: ``priority=""`` and a per-priority breakdown under ``priority="<n>"``; a ``priority=""`` matcher also
#: matches series without the label, so it selects the total either way and the breakdown is never added
#: twice.
QUEUE_METRICS: dict[str, QueueMetric] = {
    "vllm": QueueMetric("vllm:num_requests_waiting"),
    "sglang": QueueMetric("sglang:num_queue_reqs", {"priority": ""}),
}

WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
"""Cron's day-of-week numbers are the indexes (0 = Sunday)."""

#: The HPA's own default scale-down stabilisation is 300 s; Strait never goes below it for GPU servers.
MIN_SCALE_DOWN_STABILIZATION_SECONDS = 300
#: Scale down one replica at a time, at most one per this many seconds: a GPU replica costs minutes to
#: bring back, so a lull drains capacity slowly.
SCALE_DOWN_PERIOD_SECONDS = 120
#: Queries that fail this many polls in a row switch the ScaledObject to its fallback.
FALLBACK_FAILURES = 3
#: KEDA's admission webhook refuses a ScaledObject whose HPA name, keda-hpa-<name>, is not a valid label value
#: (apis/keda/v1alpha1/scaledobject_webhook.go, verifyName).
HPA_NAME_PREFIX = "keda-hpa-"
MAX_LABEL_VALUE_CHARS = 63
#: Added to the cold start when placing the cron start, so the lead is strictly longer than the cold start.
LEAD_MARGIN_SECONDS = 60


# --- time zones and cron ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def timezone_problem(tz: str) -> str | None:
    """Why ``tz`` is not an IANA time zone KEDA can load, or None."""
    if not isinstance(tz, str) or not tz.strip():
        return "an empty time zone"
    if tz == "Local" or tz.startswith("/") or ".." in tz:
        return "not an IANA time zone name (KEDA's operator would read its own container's zone)"
    if tz not in _zones():
        return "not an IANA time zone (the tz database has no such zone; names look like Asia/Jakarta)"
    return None


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
#: (lowest, highest, names) per field of robfig/cron's five-field parser (parser.go: minutes, hours, dom,
#: months, dow). Names are case-insensitive; dow 7 is not accepted by robfig (0-6 only).
_CRON_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
                ("month", 1, 12, _MONTHS), ("day of week", 0, 6, WEEKDAYS))
_NUM = re.compile(r"^\d+$")


def _cron_value(text: str, lo: int, names: Sequence[str]) -> int | None:
    t = text.lower()
    if t in names:
        return names.index(t) + (lo if names is _MONTHS else 0)
    return int(t) if _NUM.match(t) else None


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not a schedule KEDA's cron scaler parses (robfig/cron v3, Minute|Hour|Dom|Month|Dow;
    fields of ``*``, ``?``, numbers, names, ranges ``a-b``, steps ``/n`` and lists), or None."""
    if not isinstance(expr, str):
        return "not a string"
    parts = expr.split()
    if len(parts) != 5:
        return f"has {len(parts)} fields; KEDA's cron needs 5 (minute hour day-of-month month day-of-week)"
    for part, (what, lo, hi, names) in zip(parts, _CRON_FIELDS):
        for item in part.split(","):
            rng, slash, step = item.partition("/")
            if slash and (not _NUM.match(step) or int(step) == 0):
                return f"{what} {item!r}: a step must be a positive number"
            if rng in ("*", "?"):
                continue
            a, dash, b = rng.partition("-")
            first = _cron_value(a, lo, names)
            last = _cron_value(b, lo, names) if dash else first
            if first is None or last is None:
                return f"{what} {item!r}: not a number{' or name' if names else ''}"
            if not (lo <= first <= hi and lo <= last <= hi):
                return f"{what} {item!r}: out of range {lo}-{hi}"
            if first > last:
                return f"{what} {item!r}: the range runs backwards"
    return None


@dataclass(frozen=True, kw_only=True)
class CronWindow:
    """One KEDA ``cron`` trigger: ``desired_replicas`` from ``start`` until ``end`` in ``timezone``."""

    timezone: str
    start: str
    end: str
    desired_replicas: int

    def problems(self) -> list[str]:
        out = []
        tz = timezone_problem(self.timezone)
        if tz:
            out.append(f"timezone {self.timezone!r}: {tz}")
        for key in ("start", "end"):
            p = cron_problem(getattr(self, key))
            if p:
                out.append(f"{key} {getattr(self, key)!r}: {p}")
        if self.start == self.end:
            out.append("start and end are the same schedule; KEDA refuses the trigger")
        if self.desired_replicas < 1:
            out.append(f"desiredReplicas {self.desired_replicas}: must be at least 1 (KEDA treats 0 as unset)")
        return out


def _hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def lead_seconds(cold_start_seconds: int, node_provision_seconds: int) -> int:
    """How far ahead of business hours the cron window opens: a GPU node's provisioning plus the model
    server's cold start (its startup budget), plus a minute, so the lead is strictly longer than both."""
    return cold_start_seconds + node_provision_seconds + LEAD_MARGIN_SECONDS


def business_hours_window(*, timezone: str, start: str, end: str, days: Sequence[str], lead_seconds: int,
                          replicas: int) -> CronWindow:
    """The cron window for business hours ``start``-``end`` (HH:MM, same day, end after start) on ``days``
    (mon..sun), opened ``lead_seconds`` early (rounded up to whole minutes). A lead that crosses midnight
    moves the start to the previous day of each business day."""
    s, e = _hhmm(start), _hhmm(end)
    if e <= s:
        raise ValueError(f"business hours end {end} is not after start {start} on the same day")
    if not days or any(d not in WEEKDAYS for d in days):
        raise ValueError(f"days {list(days)!r}: use one or more of {', '.join(WEEKDAYS)}")
    lead = math.ceil(lead_seconds / 60)
    if lead >= 24 * 60:
        raise ValueError(f"a lead of {lead} minutes is a day or more")
    opened = s - lead
    shift = -1 if opened < 0 else 0
    opened %= 24 * 60
    idx = sorted({WEEKDAYS.index(d) for d in days})
    start_days = sorted({(d + shift) % 7 for d in idx})
    return CronWindow(timezone=timezone, start=f"{opened % 60} {opened // 60} * * {_dow_list(start_days)}",
                      end=f"{e % 60} {e // 60} * * {_dow_list(idx)}", desired_replicas=replicas)


def _dow_list(days: list[int]) -> str:
    """Day-of-week numbers as cron text, runs folded into ranges: [1,2,3,4,5] -> '1-5'."""
    runs: list[list[int]] = []
    for d in days:
        if runs and d == runs[-1][-1] + 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in runs)


# --- the queue query ------------------------------------------------------------------------------------
def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def queue_query(engine: str, served_model_name: str, namespace: str) -> str:
    """PromQL for the total waiting queue over every replica of one model server: one series, or none.

    ``namespace`` is the label the Prometheus Operator puts on every series a ServiceMonitor scrapes, so a
    model of the same name in another namespace is never counted."""
    if engine not in QUEUE_METRICS:
        raise ValueError(f"engine {engine!r}: no queue metric known; use one of {', '.join(sorted(QUEUE_METRICS))}")
    m = QUEUE_METRICS[engine]
    matchers = {MODEL_LABEL: served_model_name, "namespace": namespace, **m.matchers}
    sel = ",".join(f"{k}={_q(v)}" for k, v in sorted(matchers.items()))
    return f"sum({m.name}{{{sel}}})"


# --- the ScaledObject -----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class QueueScalingSpec:
    """Everything one model server's ScaledObject says."""

    name: str
    """ScaledObject name (the model server's name)."""
    namespace: str
    target_deployment: str
    engine: Literal["vllm", "sglang"]
    served_model_name: str
    prometheus_address: str
    """In-cluster Prometheus, e.g. http://prometheus-operated.strait-monitoring.svc:9090."""
    min_replicas: int
    """The warm standby: never fewer, at any hour."""
    max_replicas: int
    queue_per_replica: float
    """Waiting requests one replica may carry before another is added (the trigger's threshold)."""
    window: CronWindow | None = None
    """Business-hours floor. Default: none (the queue and the standby alone)."""
    scale_down_stabilization_seconds: int = 600
    polling_interval_seconds: int = 15
    labels: Mapping[str, str] = field(default_factory=dict)

    def problems(self) -> list[str]:
        out = []
        if len(HPA_NAME_PREFIX + self.name) > MAX_LABEL_VALUE_CHARS:
            out.append(f"name {self.name!r}: KEDA names the HPA {HPA_NAME_PREFIX}<name>, which must fit a 63-character "
                       f"label value; use at most {MAX_LABEL_VALUE_CHARS - len(HPA_NAME_PREFIX)} characters")
        if self.min_replicas < 1:
            out.append(f"min_replicas {self.min_replicas}: at least 1 replica stays up as the warm standby")
        if self.max_replicas < self.min_replicas:
            out.append(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        if not (self.queue_per_replica > 0 and math.isfinite(self.queue_per_replica)):
            out.append(f"queue_per_replica {self.queue_per_replica}: must be a positive number")
        if self.scale_down_stabilization_seconds < MIN_SCALE_DOWN_STABILIZATION_SECONDS:
            out.append(f"scale_down_stabilization_seconds {self.scale_down_stabilization_seconds}: at least "
                       f"{MIN_SCALE_DOWN_STABILIZATION_SECONDS} (a GPU replica takes minutes to come back)")
        if not self.prometheus_address.startswith(("http://", "https://")):
            out.append(f"prometheus_address {self.prometheus_address!r}: an http(s) URL")
        if self.engine not in QUEUE_METRICS:
            out.append(f"engine {self.engine!r}: one of {', '.join(sorted(QUEUE_METRICS))}")
        if self.window is not None:
            out += [f"business hours: {p}" for p in self.window.problems()]
            if not self.min_replicas <= self.window.desired_replicas <= self.max_replicas:
                out.append(f"business-hours replicas {self.window.desired_replicas} must lie between min_replicas "
                           f"{self.min_replicas} and max_replicas {self.max_replicas}")
        return out


def _num(x: float) -> str:
    return f"{x:g}"


def render_scaled_object(spec: QueueScalingSpec) -> dict:
    """The ScaledObject (apiVersion, kind, metadata, spec), keys sorted for stable diffs."""
    problems = spec.problems()
    if problems:
        raise ValueError(f"ScaledObject {spec.name}: " + "; ".join(problems))
    triggers = [{
        "type": "prometheus",
        "name": "queue",
        "metadata": {
            "serverAddress": spec.prometheus_address,
            "query": queue_query(spec.engine, spec.served_model_name, spec.namespace),
            "threshold": _num(spec.queue_per_replica),
            # An empty answer (no replica has exported its queue yet, or the scrape broke) is an error, not
            # "queue 0": the fallback below then holds the replicas instead of scaling them away.
            "ignoreNullValues": "false",
        },
    }]
    if spec.window is not None:
        w = spec.window
        triggers.append({"type": "cron", "name": "business-hours", "metadata": {
            "timezone": w.timezone, "start": w.start, "end": w.end, "desiredReplicas": str(w.desired_replicas)}})
    body = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": spec.target_deployment},
        "minReplicaCount": spec.min_replicas,
        "maxReplicaCount": spec.max_replicas,
        "pollingInterval": spec.polling_interval_seconds,
        # Prometheus down: keep what runs (never fewer than the standby) rather than scale on no data.
        "fallback": {"failureThreshold": FALLBACK_FAILURES, "replicas": spec.min_replicas,
                     "behavior": "currentReplicasIfHigher"},
        "advanced": {"horizontalPodAutoscalerConfig": {"behavior": {
            "scaleDown": {"stabilizationWindowSeconds": spec.scale_down_stabilization_seconds,
                          "selectPolicy": "Min",
                          "policies": [{"type": "Pods", "value": 1, "periodSeconds": SCALE_DOWN_PERIOD_SECONDS}]},
            # Up at once: a queue means users wait, and a new replica still needs its cold start.
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60},
                                     {"type": "Percent", "value": 100, "periodSeconds": 60}]},
        }}},
        "triggers": triggers,
    }
    return {"apiVersion": KEDA_API_VERSION, "kind": SCALED_OBJECT,
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": dict(sorted(spec.labels.items()))},
            "spec": _sorted(body)}


def _sorted(x):
    if isinstance(x, dict):
        return {k: _sorted(x[k]) for k in sorted(x)}
    if isinstance(x, list):
        return [_sorted(i) for i in x]
    return x


def replicas_wanted(queue_total: float, spec: QueueScalingSpec, *, in_window: bool) -> int:
    """What the HPA asks for (before its 10% tolerance and the behaviour's rate limits): the highest of the
    queue trigger's ceil(total / threshold), the cron floor inside the window and the standby, capped at
    the maximum. For docs and tests; KEDA and the HPA do the real arithmetic."""
    queue = math.ceil(queue_total / spec.queue_per_replica) if queue_total > 0 else 0
    floor = spec.window.desired_replicas if (spec.window is not None and in_window) else 0
    return min(spec.max_replicas, max(spec.min_replicas, queue, floor))
