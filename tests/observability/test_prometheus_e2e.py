"""End to end on loopback: a real Prometheus (Debian's binary) scrapes a real LiteLLM proxy (with the
master key, as the ServiceMonitor does) and a fake vLLM /metrics page, loads the rendered rules, and
the expected alerts go to firing.

Time is compressed, nothing else: 1 s scrape and evaluation intervals, and every rule's `for` set to
0 s. The expressions are the rendered ones, unchanged. Bounded: the whole test gives up after 90 s.
"""
from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from strait.render.alerts import render_rule_groups
from tests.observability.conftest import phase1_like_spec
from tests.observability.fakes import FakeUpstream, FakeVllmMetrics, free_port
from tests.observability.litellm_proxy import MASTER_KEY, SELF_HOSTED_TIER, LiteLLMProxy

DEADLINE_SECONDS = 90


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def _firing(base: str) -> dict[str, dict]:
    alerts = _get(base + "/api/v1/alerts")["data"]["alerts"]
    return {a["labels"]["alertname"]: a for a in alerts if a["state"] == "firing"}


def _prometheus_config(tmp: Path, vllm: str, litellm: str) -> Path:
    groups = render_rule_groups(phase1_like_spec())
    for g in groups:
        g.pop("interval", None)
        for r in g["rules"]:
            if "for" in r:
                r["for"] = "0s"
    (tmp / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    cfg = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(tmp / "rules.yaml")],
        "scrape_configs": [
            {"job_name": "vllm", "static_configs": [{"targets": [vllm]}]},
            {"job_name": "litellm", "metrics_path": "/metrics/",
             "authorization": {"type": "Bearer", "credentials": MASTER_KEY},
             "static_configs": [{"targets": [litellm]}]},
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_alerts_fire_from_real_scrapes(prometheus_bin, tmp_path):
    deadline = time.monotonic() + DEADLINE_SECONDS
    with FakeUpstream() as vllm_api, FakeUpstream() as anthropic, FakeVllmMetrics("qwen32b") as vllm_metrics:
        proxy = LiteLLMProxy(tmp_path, vllm_api, anthropic).start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        cfg = _prometheus_config(tmp_path, f"127.0.0.1:{vllm_metrics.port}", f"127.0.0.1:{proxy.port}")
        check = subprocess.run(["promtool", "check", "config", str(cfg)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        log = open(tmp_path / "prometheus.log", "w")
        prom = subprocess.Popen([prometheus_bin, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
        try:
            while True:
                try:
                    _get(base + "/api/v1/status/buildinfo")
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "prometheus did not start"
                    time.sleep(0.3)

            # Healthy first: the self-hosted tier answers, TTFT is 80 ms. Nothing may fire.
            for _ in range(3):
                assert proxy.chat(SELF_HOSTED_TIER)[0] == 200
                vllm_metrics.observe_ttft(0.08, 20)
                time.sleep(1)
            time.sleep(3)
            quiet = _firing(base)
            assert "StraitTTFTAboveSLO" not in quiet and "StraitGatewayFallbackRate" not in quiet, quiet

            # Then TTFT degrades to ~0.9 s and the self-hosted upstream starts failing: LiteLLM falls back.
            vllm_api.failing = True
            firing: dict[str, dict] = {}
            while time.monotonic() < deadline:
                vllm_metrics.observe_ttft(0.9, 50)
                code, body = proxy.chat(SELF_HOSTED_TIER)
                assert code == 200 and body["model"] == "claude-sonnet-4-5"  # served by the commercial fallback
                firing = _firing(base)
                if {"StraitTTFTAboveSLO", "StraitGatewayFallbackRate"} <= set(firing):
                    break
                time.sleep(1)
            targets = _get(base + "/api/v1/targets")["data"]["activeTargets"]
        finally:
            prom.terminate()
            prom.wait(15)
            log.close()
            proxy.stop()
    assert all(t["health"] == "up" for t in targets), [(t["labels"]["job"], t["lastError"]) for t in targets]
    assert "StraitTTFTAboveSLO" in firing, (tmp_path / "prometheus.log").read_text()[-2000:]
    assert firing["StraitTTFTAboveSLO"]["labels"]["model"] == "qwen32b"
    assert "StraitGatewayFallbackRate" in firing
    assert float(firing["StraitGatewayFallbackRate"]["value"]) > 0.1

