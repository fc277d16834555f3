"""Phase 2's scale observability, judged by promtool: the scaling alerts parse and fire (and stay quiet) on the
series they read; the Scale dashboard's queries parse and read only metrics the pinned exporters expose."""
from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from strait.render.alerts import AutoscaledModel, render_rule_groups
from strait.render.dashboards import ROUTER_METRICS, DashboardSpec, dashboard_exprs, render_dashboards
from tests.observability.conftest import phase1_like_spec
from tests.observability.promql_names import ksm_names, metric_names, sglang_names, vllm_names

SCALED = AutoscaledModel(key="qwen7b", served_model_name="qwen7b", namespace="strait-serving", max_replicas=3,
                         queue_per_replica=4, scale_up_minutes=16)


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:  # a missing judge is a failure, not a skip
        pytest.fail("promtool not found: run scripts/setup.sh --test (installs Debian's prometheus package)")
    return path


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("rules") / "rules.yaml"
    spec = phase1_like_spec(autoscaled=(SCALED,), overflow_tiers=("self-hosted",))
    path.write_text(yaml.safe_dump({"groups": render_rule_groups(spec)}))
    return path


def test_scaling_rules_check(promtool, rule_file):
    groups = yaml.safe_load(rule_file.read_text())["groups"]
    names = {r.get("alert") for g in groups if g["name"] == "strait-scaling" for r in g["rules"]}
    assert names == {"StraitAutoscalerAtMax", "StraitScaleUpStalled", "StraitGatewayOverflowSustained"}
    proc = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    assert render_rule_groups(phase1_like_spec()) == [g for g in render_rule_groups(phase1_like_spec(autoscaled=()))]
    assert "strait-scaling" not in {g["name"] for g in render_rule_groups(phase1_like_spec())}


def _series(replicas: int, available: int, waiting: list[int]) -> list[dict]:
    dep = 'namespace="strait-serving", deployment="qwen7b"'
    out = [{"series": f"kube_deployment_spec_replicas{{{dep}}}", "values": f"{replicas}+0x40"},
           {"series": f"kube_deployment_status_replicas_available{{{dep}}}", "values": f"{available}+0x40"}]
    out += [{"series": f'vllm:num_requests_waiting{{model_name="qwen7b", pod="qwen7b-{i}"}}', "values": f"{w}+0x40"}
            for i, w in enumerate(waiting)]
    return out


CASES = [
    # (alert, series, fires at 30m)
    ("StraitAutoscalerAtMax", _series(3, 3, [6, 5, 4]), True),     # at max, 5 waiting per replica > 4
    ("StraitAutoscalerAtMax", _series(3, 3, [4, 4, 3]), False),    # at max, but the queue is at the threshold
    ("StraitAutoscalerAtMax", _series(2, 2, [9, 9]), False),       # deep queue, but KEDA can still add a replica
    ("StraitScaleUpStalled", _series(3, 1, [1, 1, 1]), True),      # two replicas asked for, none serving in 16 min
    ("StraitScaleUpStalled", _series(3, 3, [1, 1, 1]), False),
]


def _overflow(overflowed_per_min: int, total_per_min: int) -> list[dict]:
    return [{"series": 'strait_gateway_overflow_requests_total{tier="self-hosted", to="commercial"}',
             "values": f"0+{overflowed_per_min}x40"},
            {"series": 'litellm_proxy_total_requests_metric_total{requested_model="self-hosted", api_provider="hosted_vllm"}',
             "values": f"0+{total_per_min}x40"}]


CASES += [
    ("StraitGatewayOverflowSustained", _overflow(30, 100), True),   # 30% overflow > 10% for 15 min
    ("StraitGatewayOverflowSustained", _overflow(5, 100), False),   # 5%
]


@pytest.mark.parametrize("alert, series, fires", CASES)
def test_scaling_alerts_fire_and_stay_quiet(promtool, rule_file, tmp_path, alert, series, fires):
    labels = {"alertname": alert, "alertstate": "firing", "severity": "warning"}
    if alert != "StraitGatewayOverflowSustained":
        labels["model"] = "qwen7b"
    lab = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    test = {"rule_files": [str(rule_file)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series, "promql_expr_test": [{
            "expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}', "eval_time": "30m",
            "exp_samples": [{"labels": f"ALERTS{{{lab}}}", "value": 1}] if fires else []}]}]}
    f = tmp_path / "test.yaml"
    f.write_text(yaml.safe_dump(test))
    proc = subprocess.run([promtool, "test", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def overflow_names() -> set[str]:
    """The gateway hook's own counter, as prometheus_client exposes it (name and labels)."""
    from prometheus_client import generate_latest

    from strait.gateway import hook

    hook.OVERFLOWED.labels(tier="fast", to="commercial")
    text = generate_latest().decode()
    assert 'strait_gateway_overflow_requests_total{tier="fast",to="commercial"}' in text
    return {line.split("{")[0] for line in text.splitlines() if line.startswith("strait_gateway_overflow")}


def _scale_exprs() -> list[str]:
    spec = DashboardSpec(self_hosted_tiers=("fast", "smart"), monthly_budget_usd=10000, scaling=True)
    return dashboard_exprs(render_dashboards(spec)["strait-scale"])


def test_scale_dashboard_is_opt_in():
    assert "strait-scale" not in render_dashboards(DashboardSpec(self_hosted_tiers=("fast",)))


def test_scale_dashboard_queries_parse(promtool, tmp_path):
    rules = [{"record": f"strait:scale_check_{i}", "expr": e.replace("$__rate_interval", "5m")}
             for i, e in enumerate(_scale_exprs())]
    f = tmp_path / "scale.rules.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "scale", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_scale_dashboard_reads_only_real_metrics():
    """vLLM, SGLang and kube-state-metrics names from the pinned exporters; the router's from its /metrics
    (ROUTER_METRICS, judged in tests/router); LiteLLM's only names the other dashboards and rules already read,
    which tests/observability/test_metric_names.py checks against a real proxy's /metrics."""
    judged_litellm = {n for d in render_dashboards(DashboardSpec(self_hosted_tiers=("fast",))).values()
                      for e in dashboard_exprs(d) for n in metric_names(e) if n.startswith("litellm_")}
    known = vllm_names() | sglang_names() | ksm_names() | set(ROUTER_METRICS) | judged_litellm | overflow_names()
    used = {n for e in _scale_exprs() for n in metric_names(e)}
    assert used - known == set()
    assert "strait_gateway_overflow_requests_total" in used
    assert {"vllm:num_requests_waiting", "sglang:num_queue_reqs", "kube_deployment_spec_replicas",
            "litellm_spend_metric_total", "vllm_router_prefix_routing_decisions_total"} <= used
