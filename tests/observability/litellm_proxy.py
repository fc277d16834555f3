"""A real LiteLLM proxy (the pinned litellm package) on loopback, configured by Strait's own renderer.

Upstreams are fakes from fakes.py, so the test decides when the self-hosted tier fails and the
gateway falls back to the commercial one. The proxy keeps LiteLLM's default: ``/metrics`` needs the
master key (see docs/observability.md, "Gateway metrics and auth").
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from strait.render.litellm import (
    CONFIG_FILE,
    MASTER_KEY_ENV,
    GatewaySpec,
    ProviderModel,
    SelfHostedEndpoint,
    Tier,
    key_env_for,
    render_gateway_files,
)
from tests.observability.fakes import FakeUpstream, free_port

MASTER_KEY = "sk-strait-test-" + "0123456789abcdef" * 2
SELF_HOSTED_TIER = "self-hosted"
COMMERCIAL_TIER = "commercial"
START_TIMEOUT_SECONDS = 90


def gateway_spec(vllm_base: str, anthropic_base: str) -> GatewaySpec:
    """Strait's gateway shape (self-hosted tier falling back to a commercial one), metrics on, /metrics authed."""
    return GatewaySpec(
        tiers={
            SELF_HOSTED_TIER: Tier(self_hosted=(SelfHostedEndpoint(served_model_name="qwen32b", api_base=vllm_base,
                                                                   api_key_env=key_env_for("qwen32b")),),
                                   fallbacks=(COMMERCIAL_TIER,), timeout_seconds=10),
            COMMERCIAL_TIER: Tier(providers=(ProviderModel(provider="anthropic", model="claude-sonnet-4-5",
                                                           api_base=anthropic_base),), timeout_seconds=10),
        },
        num_retries=0, cooldown_seconds=1, metrics=True, metrics_require_auth=True)


class LiteLLMProxy:
    def __init__(self, workdir: Path, vllm: FakeUpstream, anthropic: FakeUpstream):
        self.workdir, self.vllm, self.anthropic = workdir, vllm, anthropic
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LiteLLMProxy":
        # Every file of the gateway's config directory, as the ConfigMap mounts them (config + routing hook).
        for name, text in render_gateway_files(gateway_spec(self.vllm.url + "/v1", self.anthropic.url)).items():
            (self.workdir / name).write_text(text)
        path = self.workdir / CONFIG_FILE
        exe = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
        env = {**os.environ, MASTER_KEY_ENV: MASTER_KEY, key_env_for("qwen32b"): "vllm-key", "ANTHROPIC_API_KEY": "fake",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "NO_DOCKER": "1"}
        self.log = open(self.workdir / "litellm.log", "w")
        self.proc = subprocess.Popen([exe, "--config", str(path), "--host", "127.0.0.1", "--port", str(self.port),
                                      "--num_workers", "1"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"litellm exited: {(self.workdir / 'litellm.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(self.url + "/health/liveliness", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise RuntimeError("litellm did not start in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()

    def chat(self, tier: str) -> tuple[int, dict]:
        body = json.dumps({"model": tier, "messages": [{"role": "user", "content": "hi"}]}).encode()
        req = urllib.request.Request(self.url + "/v1/chat/completions", data=body, headers={
            "Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, {}

    def metrics(self, key: str | None = MASTER_KEY) -> tuple[int, str]:
        req = urllib.request.Request(self.url + "/metrics/", headers={"Authorization": f"Bearer {key}"} if key else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""

