"""The real LiteLLM proxy, started with the argv the plan renders for the gateway: Prometheus scrapes a
separate metrics port without any key (the NetworkPolicy admits only Prometheus to it:
test_flows.py::test_prometheus_reaches_metrics_ports_only), while /metrics on the API port still needs a key,
so no LiteLLM key has to be handed to the monitoring stack (issue 8: the master key was the scrape token)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from strait.render.litellm import CONFIG_FILE, MASTER_KEY_ENV, key_env_for, render_gateway_files
from tests.conftest import STACKS
from tests.observability.fakes import FakeUpstream, free_port
from tests.observability.litellm_proxy import MASTER_KEY, gateway_spec

START_TIMEOUT_SECONDS = 90


def _get(url: str, key: str | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, ""  # not listening (yet)


def _rendered_args(planned) -> list[str]:
    docs = [d for _, d in planned[STACKS[0]].manifests() if d["kind"] == "Deployment" and d["metadata"]["name"] == "litellm"]
    assert len(docs) == 1
    return docs[0]["spec"]["template"]["spec"]["containers"][0]["args"]


def _replace(args: list[str], flag: str, value: str) -> list[str]:
    i = args.index(flag)
    return args[:i + 1] + [value] + args[i + 2:]


def test_metrics_port_serves_prometheus_without_a_key_and_the_api_port_does_not(planned, tmp_path):
    args = _rendered_args(planned)
    assert "--prometheus_metrics_port" in args, "the gateway no longer runs LiteLLM's separate metrics server"
    api_port, metrics_port = free_port(), free_port()
    with FakeUpstream() as vllm, FakeUpstream() as anthropic:
        for name, text in render_gateway_files(gateway_spec(vllm.url + "/v1", anthropic.url)).items():
            (tmp_path / name).write_text(text)
        argv = _replace(_replace(_replace(args, "--config", str(tmp_path / CONFIG_FILE)), "--port", str(api_port)),
                        "--prometheus_metrics_port", str(metrics_port))
        exe = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
        env = {**os.environ, MASTER_KEY_ENV: MASTER_KEY, key_env_for("qwen32b"): "vllm-key", "ANTHROPIC_API_KEY": "fake",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "NO_DOCKER": "1",
               "TMPDIR": str(tmp_path)}  # the multiprocess metrics directory goes to the pod's /tmp emptyDir
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        log = open(tmp_path / "litellm.log", "w")
        proc = subprocess.Popen([exe, *argv, "--host", "127.0.0.1"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                cwd=tmp_path)
        try:
            api = f"http://127.0.0.1:{api_port}"
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while _get(api + "/health/liveliness")[0] != 200:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"litellm did not start: {(tmp_path / 'litellm.log').read_text()[-3000:]}")
                time.sleep(0.5)
            body = b'{"model": "self-hosted", "messages": [{"role": "user", "content": "hi"}]}'
            req = urllib.request.Request(api + "/v1/chat/completions", data=body, headers={
                "Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status == 200
            metrics = f"http://127.0.0.1:{metrics_port}/metrics/"
            deadline = time.monotonic() + 20
            status, text = _get(metrics)
            while "litellm_" not in text and time.monotonic() < deadline:
                time.sleep(0.5)
                status, text = _get(metrics)
            assert status == 200 and "litellm_" in text, text[:500]
            assert MASTER_KEY not in text
            assert _get(api + "/metrics/")[0] == 401, "the API port serves /metrics without a key"
            assert _get(api + "/metrics/", MASTER_KEY)[0] == 200
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
            log.close()
