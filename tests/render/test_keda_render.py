"""strait.render.keda: the queue query per engine, the business-hours cron window and its lead, cron and time-zone
checks as KEDA's own parsers see them, and the ScaledObject (golden file)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strait.render.keda import (
    CronWindow,
    QueueScalingSpec,
    business_hours_window,
    cron_problem,
    lead_seconds,
    queue_query,
    render_scaled_object,
    replicas_wanted,
    timezone_problem,
)
from tests.helpers import check_golden

GOLDEN = Path(__file__).parent / "golden"
PROM = "http://prometheus-operated.strait-monitoring.svc:9090"


def spec(**kw) -> QueueScalingSpec:
    base = dict(name="qwen7b", namespace="strait-serving", target_deployment="qwen7b", engine="vllm",
                served_model_name="Qwen/Qwen2.5-7B-Instruct", prometheus_address=PROM, min_replicas=1, max_replicas=4,
                queue_per_replica=4.0,
                window=CronWindow(timezone="Asia/Jakarta", start="42 8 * * 1-5", end="0 18 * * 1-5", desired_replicas=2),
                labels={"app.kubernetes.io/name": "queue-autoscaler"})
    return QueueScalingSpec(**{**base, **kw})


def test_golden_scaled_object():
    check_golden(GOLDEN, "keda-scaledobject-qwen7b.json", json.dumps(render_scaled_object(spec()), indent=2) + "\n")


def test_queries_sum_the_engines_own_queue_gauge():
    assert queue_query("vllm", "qwen7b", "strait-serving") == \
        'sum(vllm:num_requests_waiting{model_name="qwen7b",namespace="strait-serving"})'
    # SGLang's total lives under priority="" (a matcher that also matches series without the label).
    assert queue_query("sglang", "r1", "ns") == 'sum(sglang:num_queue_reqs{model_name="r1",namespace="ns",priority=""})'
    assert queue_query("vllm", 'a"b\\c', "ns") == 'sum(vllm:num_requests_waiting{model_name="a\\"b\\\\c",namespace="ns"})'
    with pytest.raises(ValueError, match="engine 'tgi': no queue metric known; use one of sglang, vllm"):
        queue_query("tgi", "m", "ns")


def test_lead_is_strictly_longer_than_node_plus_cold_start():
    assert lead_seconds(420, 600) == 1080 > 420 + 600


WINDOWS = {
    # business hours, lead (s) -> (start, end)
    "Jakarta office hours, 18 min early": (("09:00", "18:00", ["mon", "tue", "wed", "thu", "fri"]), 1080,
                                           ("42 8 * * 1-5", "0 18 * * 1-5")),
    "lead rounded up to whole minutes": (("09:00", "17:30", ["mon"]), 61, ("58 8 * * 1", "30 17 * * 1")),
    "a lead across midnight opens the evening before": (("00:30", "08:00", ["mon", "wed", "fri"]), 3600,
                                                        ("30 23 * * 0,2,4", "0 8 * * 1,3,5")),
    "sunday wraps to saturday": (("00:10", "06:00", ["sun", "mon"]), 1200, ("50 23 * * 0,6", "0 6 * * 0,1")),
    "every day folds into a range": (("08:00", "20:00", ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]), 0,
                                     ("0 8 * * 0-6", "0 20 * * 0-6")),
}


@pytest.mark.parametrize("case", sorted(WINDOWS))
def test_business_hours_window(case):
    (start, end, days), lead, want = WINDOWS[case]
    w = business_hours_window(timezone="Asia/Jakarta", start=start, end=end, days=days, lead_seconds=lead, replicas=2)
    assert (w.start, w.end) == want
    assert w.problems() == []


@pytest.mark.parametrize("bad, message", [
    (dict(start="18:00", end="09:00"), "business hours end 09:00 is not after start 18:00 on the same day"),
    (dict(days=["mon", "funday"]), "days ['mon', 'funday']: use one or more of sun, mon, tue, wed, thu, fri, sat"),
    (dict(days=[]), "days []: use one or more of"),
    (dict(lead_seconds=86400), "a lead of 1440 minutes is a day or more"),
])
def test_business_hours_window_refuses(bad, message):
    kw = dict(timezone="Asia/Jakarta", start="09:00", end="18:00", days=["mon"], lead_seconds=60, replicas=2) | bad
    with pytest.raises(ValueError) as exc:
        business_hours_window(**kw)
    assert str(exc.value).startswith(message)


CRON = {
    # robfig/cron v3 with Minute|Hour|Dom|Month|Dow (KEDA's parser)
    "0 9 * * 1-5": None,
    "*/15 8-18 * * mon-fri": None,
    "30 23 * jan,jul 0,6": None,
    "0 9 ? * SUN": None,
    "0 9 * * 1-5 2026": "has 6 fields; KEDA's cron needs 5 (minute hour day-of-month month day-of-week)",
    "0 0 9 * * 1-5": "has 6 fields; KEDA's cron needs 5 (minute hour day-of-month month day-of-week)",
    "@daily": "has 1 fields; KEDA's cron needs 5 (minute hour day-of-month month day-of-week)",
    "60 9 * * *": "minute '60': out of range 0-59",
    "0 24 * * *": "hour '24': out of range 0-23",
    "0 9 0 * *": "day of month '0': out of range 1-31",
    "0 9 * 13 *": "month '13': out of range 1-12",
    "0 9 * * 7": "day of week '7': out of range 0-6",
    "0 9 * * 5-1": "day of week '5-1': the range runs backwards",
    "0 9 * * */0": "day of week '*/0': a step must be a positive number",
    "0 nine * * *": "hour 'nine': not a number",
    "0 9 * * funday": "day of week 'funday': not a number or name",
}


@pytest.mark.parametrize("expr", sorted(CRON))
def test_cron_problem(expr):
    assert cron_problem(expr) == CRON[expr]


@pytest.mark.parametrize("tz, ok", [("Asia/Jakarta", True), ("Asia/Singapore", True), ("UTC", True),
                                    ("America/New_York", True), ("Asia/Jakartaa", False), ("WIB", False),
                                    ("Local", False), ("", False), ("../../etc/passwd", False)])
def test_timezone_problem(tz, ok):
    assert (timezone_problem(tz) is None) is ok


@pytest.mark.parametrize("bad, message", [
    (dict(name="m" * 55), "KEDA names the HPA keda-hpa-<name>, which must fit a 63-character label value; use at "
                          "most 54 characters"),
    (dict(min_replicas=0), "min_replicas 0: at least 1 replica stays up as the warm standby"),
    (dict(max_replicas=0), "max_replicas 0 is below min_replicas 1"),
    (dict(queue_per_replica=0.0), "queue_per_replica 0.0: must be a positive number"),
    (dict(queue_per_replica=float("inf")), "queue_per_replica inf: must be a positive number"),
    (dict(scale_down_stabilization_seconds=299), "scale_down_stabilization_seconds 299: at least 300"),
    (dict(prometheus_address="prometheus:9090"), "prometheus_address 'prometheus:9090': an http(s) URL"),
    (dict(window=CronWindow(timezone="Mars/Olympus", start="0 9 * * 1-5", end="0 18 * * 1-5", desired_replicas=2)),
     "business hours: timezone 'Mars/Olympus': not an IANA time zone"),
    (dict(window=CronWindow(timezone="UTC", start="0 9 * * 1-5", end="0 9 * * 1-5", desired_replicas=2)),
     "business hours: start and end are the same schedule"),
    (dict(window=CronWindow(timezone="UTC", start="0 9 * * 1-5", end="0 18 * * 1-5", desired_replicas=5)),
     "business-hours replicas 5 must lie between min_replicas 1 and max_replicas 4"),
])
def test_render_refuses_bad_specs(bad, message):
    with pytest.raises(ValueError) as exc:
        render_scaled_object(spec(**bad))
    assert message in str(exc.value) and str(exc.value).startswith(f"ScaledObject {bad.get('name', 'qwen7b')}: ")


def test_no_window_means_no_cron_trigger():
    so = render_scaled_object(spec(window=None))
    assert [t["type"] for t in so["spec"]["triggers"]] == ["prometheus"]


@given(queue=st.floats(min_value=0, max_value=10_000, allow_nan=False), per=st.floats(min_value=0.5, max_value=64),
       lo=st.integers(1, 4), extra=st.integers(0, 12), in_window=st.booleans())
def test_replicas_wanted_is_the_highest_trigger_within_bounds(queue, per, lo, extra, in_window):
    hi = lo + extra
    floor = min(hi, lo + 1)
    s = spec(min_replicas=lo, max_replicas=hi, queue_per_replica=per,
             window=CronWindow(timezone="UTC", start="0 9 * * 1-5", end="0 18 * * 1-5", desired_replicas=floor))
    got = replicas_wanted(queue, s, in_window=in_window)
    assert lo <= got <= hi
    assert got >= min(hi, -(-queue // per))  # enough replicas for the queue at `per` each, unless capped
    if in_window:
        assert got >= floor
    if queue <= per * lo and not in_window:
        assert got == lo
