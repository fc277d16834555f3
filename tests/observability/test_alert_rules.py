"""Judge: promtool. `promtool check rules` on the rendered rule file, and `promtool test rules` for every
alert: one case where it fires (with the exact labels) and one where it stays quiet."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from strait.render.alerts import alert_names, gpu_memory_threshold, render_rule_groups
from tests.observability.conftest import phase1_like_spec

M = 'model_name="qwen32b",engine="0"'
S = 'namespace="strait-serving"'
NODE = 'label_strait_dev_pool="t4x4",label_node_kubernetes_io_instance_type="g4dn.12xlarge"'


def _series(name_labels: str, values: str) -> dict:
    return {"series": name_labels, "values": values}


def _ttft(fast: str, slow: str) -> list[dict]:
    """TTFT histogram: `fast` requests land in le=0.25, `slow` ones between 0.5 s and 1 s."""
    out = []
    for le, v in (("0.25", fast), ("0.5", fast), ("1", f"{fast}+{slow}"), ("+Inf", f"{fast}+{slow}")):
        out.append(_series(f'vllm:time_to_first_token_seconds_bucket{{{M},le="{le}"}}', v))
    return out


def _per_min(rate: int) -> str:
    return f"0+{rate}x60"


# alert -> (series when it must fire, series when it must stay quiet, eval time, labels it fires with)
CASES: dict[str, tuple[list[dict], list[dict], str, dict[str, str]]] = {
    "StraitTTFTAboveSLO": (
        [_series(f'vllm:time_to_first_token_seconds_bucket{{{M},le="{le}"}}', v)
         for le, v in (("0.25", "0x60"), ("0.5", "0x60"), ("1", _per_min(10)), ("+Inf", _per_min(10)))],
        [_series(f'vllm:time_to_first_token_seconds_bucket{{{M},le="{le}"}}', _per_min(10))
         for le in ("0.25", "0.5", "1", "+Inf")],
        "20m", {"model": "qwen32b", "model_name": "qwen32b", "severity": "warning"}),
    "StraitQueueDepthHigh": (
        [_series(f"vllm:num_requests_waiting{{{M}}}", "20x60")],
        [_series(f"vllm:num_requests_waiting{{{M}}}", "5x60")],
        "10m", {"model": "qwen32b", "model_name": "qwen32b", "severity": "warning"}),
    "StraitKVCacheFullPreempting": (
        [_series(f"vllm:kv_cache_usage_perc{{{M}}}", "0.95x60"), _series(f"vllm:num_preemptions_total{{{M}}}", _per_min(1))],
        # full but not preempting: vLLM is using its cache well, nothing to do
        [_series(f"vllm:kv_cache_usage_perc{{{M}}}", "0.95x60"), _series(f"vllm:num_preemptions_total{{{M}}}", "3x60")],
        "15m", {"model": "qwen32b", "model_name": "qwen32b", "severity": "warning"}),
    "StraitModelServerDown": (
        [_series(f'up{{{S},service="qwen32b",pod="a"}}', "0x60"), _series(f'up{{{S},service="qwen32b",pod="b"}}', "0x60")],
        [_series(f'up{{{S},service="qwen32b",pod="a"}}', "0x60"), _series(f'up{{{S},service="qwen32b",pod="b"}}', "1x60")],
        "10m", {"model": "qwen32b", "severity": "critical"}),
    "StraitModelServerNotReady": (
        [_series(f'kube_deployment_status_replicas_ready{{{S},deployment="qwen32b"}}', "1x60"),
         _series(f'kube_deployment_spec_replicas{{{S},deployment="qwen32b"}}', "2x60")],
        [_series(f'kube_deployment_status_replicas_ready{{{S},deployment="qwen32b"}}', "2x60"),
         _series(f'kube_deployment_spec_replicas{{{S},deployment="qwen32b"}}', "2x60")],
        "20m", {"model": "qwen32b", "namespace": "strait-serving", "deployment": "qwen32b", "severity": "warning"}),
    "StraitGpuTemperatureHigh": (
        [_series('DCGM_FI_DEV_GPU_TEMP{Hostname="n1",gpu="0"}', "85x60")],
        [_series('DCGM_FI_DEV_GPU_TEMP{Hostname="n1",gpu="0"}', "72x60")],
        "10m", {"Hostname": "n1", "gpu": "0", "severity": "warning"}),
    "StraitGpuMemoryHigh": (
        [_series('DCGM_FI_DEV_FB_USED{Hostname="n1",gpu="0"}', "15500x60"),
         _series('DCGM_FI_DEV_FB_FREE{Hostname="n1",gpu="0"}', "500x60")],
        # vLLM's steady state at --gpu-memory-utilization 0.90: ~92% used must NOT page anyone
        [_series('DCGM_FI_DEV_FB_USED{Hostname="n1",gpu="0"}', "14700x60"),
         _series('DCGM_FI_DEV_FB_FREE{Hostname="n1",gpu="0"}', "1300x60")],
        "20m", {"Hostname": "n1", "gpu": "0", "severity": "warning"}),
    "StraitGpuXidError": (
        [_series('DCGM_FI_DEV_XID_ERRORS{Hostname="n1",gpu="2"}', "0 0 0 79x20")],
        [_series('DCGM_FI_DEV_XID_ERRORS{Hostname="n1",gpu="2"}', "0x60")],
        "5m", {"Hostname": "n1", "gpu": "2", "severity": "critical"}),
    "StraitGatewayErrorRate": (
        [_series('litellm_proxy_failed_requests_metric_total{requested_model="self-hosted",exception_status="500"}', _per_min(2)),
         _series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",status_code="200"}', _per_min(8)),
         _series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",status_code="500"}', _per_min(2))],
        # bad keys (401) are the client's problem, and /metrics scrapes carry requested_model=""
        [_series('litellm_proxy_failed_requests_metric_total{requested_model="self-hosted",exception_status="401"}', _per_min(5)),
         _series('litellm_proxy_failed_requests_metric_total{requested_model="",exception_status="500",route="/metrics"}', _per_min(5)),
         _series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",status_code="200"}', _per_min(10))],
        "15m", {"severity": "critical"}),
    "StraitGatewayFallbackRate": (
        [_series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",api_provider="anthropic"}', _per_min(3)),
         _series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",api_provider="hosted_vllm"}', _per_min(7))],
        # clients asking for the commercial tier directly are not fallbacks
        [_series('litellm_proxy_total_requests_metric_total{requested_model="commercial",api_provider="anthropic"}', _per_min(50)),
         _series('litellm_proxy_total_requests_metric_total{requested_model="self-hosted",api_provider="hosted_vllm"}', _per_min(10))],
        "25m", {"severity": "warning"}),
    "StraitSpendAboveBudgetRate": (
        # 2 x g4dn.12xlarge (2 x $5.474) + $6/hour of commercial spend > $10,000 / 730 h = $13.70/hour
        # (the 1-hour rate needs ~30 minutes of history before it crosses; then `for: 30m`)
        [_series(f'kube_node_labels{{{NODE},node="a"}}', "1x120"), _series(f'kube_node_labels{{{NODE},node="b"}}', "1x120"),
         _series('litellm_spend_metric_total{model="claude-sonnet-4-5"}', "0+0.1x120")],
        [_series(f'kube_node_labels{{{NODE},node="a"}}', "1x120"), _series(f'kube_node_labels{{{NODE},node="b"}}', "1x120")],
        "90m", {"severity": "warning"}),
}


def _unit_test(rule_file: str, series: list[dict], alert: str, at: str, labels: dict[str, str] | None) -> dict:
    sample = []
    if labels is not None:
        lab = ",".join(f'{k}="{v}"' for k, v in sorted({**labels, "alertname": alert, "alertstate": "firing"}.items()))
        sample = [{"labels": f"ALERTS{{{lab}}}", "value": 1}]
    return {"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": f'ALERTS{{alertname="{alert}",alertstate="firing"}}', "eval_time": at, "exp_samples": sample}]}


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory) -> Path:
    groups = render_rule_groups(phase1_like_spec())
    path = tmp_path_factory.mktemp("rules") / "strait-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return path


def test_promtool_check_rules(promtool, rule_file):
    proc = subprocess.run([promtool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_has_a_case():
    assert alert_names(render_rule_groups(phase1_like_spec())) == sorted(CASES)


@pytest.mark.parametrize("alert", sorted(CASES))
def test_alert_fires_and_stays_quiet(promtool, rule_file, tmp_path, alert):
    fire, quiet, at, labels = CASES[alert]
    doc = {"rule_files": [str(rule_file)], "evaluation_interval": "1m",
           "tests": [_unit_test(str(rule_file), fire, alert, at, labels), _unit_test(str(rule_file), quiet, alert, at, None)]}
    test_file = tmp_path / f"{alert}.test.yaml"
    test_file.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_case_is_caught(promtool, rule_file, tmp_path):
    """The harness itself can fail: expecting the GPU alert on a cool GPU must be a promtool failure."""
    _, quiet, at, labels = CASES["StraitGpuTemperatureHigh"]
    doc = {"rule_files": [str(rule_file)], "evaluation_interval": "1m",
           "tests": [_unit_test(str(rule_file), quiet, "StraitGpuTemperatureHigh", at, labels)]}
    f = tmp_path / "broken.test.yaml"
    f.write_text(yaml.safe_dump(doc, sort_keys=False))
    proc = subprocess.run([promtool, "test", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0


def test_ttft_threshold_follows_each_models_slo():
    from strait.render.alerts import ModelTarget
    spec = phase1_like_spec(models=(
        ModelTarget(key="chat", served_model_name="chat", namespace="s", replicas=1, ttft_slo_ms=500),
        ModelTarget(key="batch", served_model_name="batch", namespace="s", replicas=1, ttft_slo_ms=4000)))
    ttft = {r["labels"]["model"]: r["expr"] for g in render_rule_groups(spec) for r in g["rules"]
            if r.get("alert") == "StraitTTFTAboveSLO"}
    assert ttft["chat"].endswith("> 0.5") and ttft["batch"].endswith("> 4")


def test_gpu_memory_threshold_stays_above_vllm_reservation():
    from strait.render.alerts import ModelTarget
    greedy = phase1_like_spec(models=(ModelTarget(key="m", served_model_name="m", namespace="s", replicas=1,
                                                  ttft_slo_ms=500, gpu_memory_utilization=0.95),))
    assert gpu_memory_threshold(phase1_like_spec()) == 0.95
    assert gpu_memory_threshold(greedy) == 0.99


def test_no_budget_no_budget_alert():
    assert "StraitSpendAboveBudgetRate" not in alert_names(render_rule_groups(phase1_like_spec(monthly_budget_usd=None)))


def test_every_alert_has_summary_and_runbook():
    for g in render_rule_groups(phase1_like_spec()):
        for r in g["rules"]:
            if "alert" in r:
                assert r["annotations"]["summary"] and len(r["annotations"]["runbook"]) > 40, r["alert"]


def test_every_runbook_url_has_an_anchor_in_the_docs():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text()
    for g in render_rule_groups(phase1_like_spec()):
        for r in g["rules"]:
            if "alert" in r:
                anchor = r["annotations"]["runbook_url"].split("#", 1)[1]
                assert f'<a id="{anchor}"></a>' in doc, r["alert"]
