"""The overflow counter as the deployed gateway exposes it: the real proxy with two workers and LiteLLM's separate
metrics server (--prometheus_metrics_port, as components/k8s/litellm_gateway.py runs it), which aggregates every
worker's samples from PROMETHEUS_MULTIPROC_DIR. Prometheus scrapes that port, so the alert's series must be there,
summed over the workers."""
from __future__ import annotations

import re
import subprocess
import time

import httpx

from strait.render.litellm import CONFIG_FILE
from tests.gateway.fakes import FakeUpstream, free_port
from tests.gateway.proxy import LITELLM, Proxy
from tests.gateway.test_overflow_proxy import COMMERCIAL, FAST, THRESHOLD, FakeEngine, ask, overflow_spec


def test_the_overflow_counter_reaches_the_metrics_port_summed_over_workers():
    engine, openai = FakeEngine("fast"), FakeUpstream("openai")
    proxy = Proxy.for_spec(overflow_spec(engine, openai))
    metrics_port = free_port()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(proxy.config_dir), "TMPDIR": str(proxy.config_dir),
           "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1", **proxy.env}
    log = open(proxy.config_dir / "proxy.log", "w")
    proc = subprocess.Popen([str(LITELLM), "--config", str(proxy.config_dir / CONFIG_FILE), "--host", "127.0.0.1",
                             "--port", str(proxy.port), "--num_workers", "2", "--prometheus_metrics_port",
                             str(metrics_port)], cwd=proxy.config_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, proxy.log[-3000:]
            try:
                if httpx.get(f"{proxy.base}/health/readiness", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        engine.queue = THRESHOLD + 6
        served = {"fast": 0, "openai": 0}
        with httpx.Client(base_url=proxy.base, timeout=10,
                          headers={"Authorization": f"Bearer {proxy.master_key}"}) as client:
            # New connections, so both workers take requests; each worker polls /metrics on its own.
            end = time.monotonic() + 6
            while time.monotonic() < end:
                client.headers["Connection"] = "close"
                served[ask(client)[0]] += 1
                time.sleep(0.05)
        assert served["openai"] > 0
        time.sleep(1.0)
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics/", follow_redirects=True, timeout=5).text
        m = re.search(rf'^strait_gateway_overflow_requests_total\{{tier="{FAST}",to="{COMMERCIAL}"\}} (\S+)$', text,
                      re.M)
        assert m, "the overflow counter is not on the metrics port"
        print(f"\n2 workers: {served['openai']} overflowed answers, counter on the metrics port = {m.group(1)}")
        assert float(m.group(1)) == served["openai"]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        proxy.cleanup()
        engine.close()
        openai.close()
