"""Run the real LiteLLM proxy (litellm[proxy]==1.109.1, from the project venv) on 127.0.0.1 with the
files Strait renders, and a test spec of all four tiers in front of fake upstreams."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from strait.render.litellm import (
    CONFIG_FILE,
    MASTER_KEY_ENV,
    PROVIDER_KEY_ENV,
    GatewaySpec,
    ProviderModel,
    Routing,
    SelfHostedEndpoint,
    Tier,
    render_gateway_files,
)
from tests.gateway.fakes import FakeUpstream, free_port

LITELLM = Path(sys.executable).with_name("litellm")
FAST, SMART, LONG, COMMERCIAL = "self-hosted-fast", "self-hosted-smart", "long-context", "commercial"


@dataclass
class Fakes:
    fast: FakeUpstream
    smart: FakeUpstream
    long: FakeUpstream
    openai: FakeUpstream
    anthropic: FakeUpstream
    deepseek: FakeUpstream

    @classmethod
    def start(cls) -> "Fakes":
        return cls(*(FakeUpstream(n) for n in ("fast", "smart", "long", "openai", "anthropic", "deepseek")))

    def all(self) -> list[FakeUpstream]:
        return [self.fast, self.smart, self.long, self.openai, self.anthropic, self.deepseek]

    def reset(self) -> None:
        for f in self.all():
            f.reset()
            f.context_window = None
            f.delay_seconds = 0.0

    def close(self) -> None:
        for f in self.all():
            f.close()


def four_tier_spec(f: Fakes, *, cooldown_seconds: int = 4, fast_timeout: float = 1.5,
                   fast_max_parallel: int | None = 2, request_deadline_seconds: float | None = None) -> GatewaySpec:
    """The four tiers of docs/gateway.md, with small windows so tests can overflow them cheaply."""
    hosted = lambda name, fake, window, **kw: SelfHostedEndpoint(  # noqa: E731
        served_model_name=name, api_base=f"{fake.base}/v1", api_key_env=f"VLLM_API_KEY_{name.upper()}",
        max_model_len=window, **kw)
    return GatewaySpec(
        tiers={
            FAST: Tier(self_hosted=(hosted("small", f.fast, 2048, max_parallel_requests=fast_max_parallel),),
                       fallbacks=(SMART, COMMERCIAL), context_window_fallbacks=(LONG, COMMERCIAL),
                       timeout_seconds=fast_timeout),
            SMART: Tier(self_hosted=(hosted("big", f.smart, 4096),), fallbacks=(COMMERCIAL,),
                        context_window_fallbacks=(LONG, COMMERCIAL), timeout_seconds=5),
            LONG: Tier(self_hosted=(hosted("long", f.long, 32768),), fallbacks=(COMMERCIAL,), timeout_seconds=5),
            COMMERCIAL: Tier(providers=(
                ProviderModel(provider="anthropic", model="claude-sonnet-4-5", api_base=f.anthropic.base,
                              max_input_tokens=200000),
                ProviderModel(provider="openai", model="gpt-5-mini", api_base=f"{f.openai.base}/v1",
                              max_input_tokens=400000),
                ProviderModel(provider="deepseek", model="deepseek-chat", api_base=f"{f.deepseek.base}/v1",
                              max_input_tokens=128000),
            ), timeout_seconds=5),
        },
        routing=Routing(ladder=(FAST, SMART, COMMERCIAL), long_context_tier=LONG),
        cooldown_seconds=cooldown_seconds, allowed_fails=0, request_deadline_seconds=request_deadline_seconds,
    )


def secret_env_for(spec: GatewaySpec) -> dict[str, str]:
    """A fresh random value for every os.environ/ reference the rendered config makes."""
    env = {MASTER_KEY_ENV: "sk-" + secrets.token_hex(24)}
    for tier in spec.tiers.values():
        for ep in tier.self_hosted:
            env[ep.api_key_env] = "vllm-" + secrets.token_hex(16)
        for pm in tier.providers:
            env[PROVIDER_KEY_ENV[pm.provider]] = f"{pm.provider}-" + secrets.token_hex(16)
    return env


@dataclass
class Proxy:
    config_dir: Path
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def master_key(self) -> str:
        return self.env[MASTER_KEY_ENV]

    @property
    def log(self) -> str:
        return (self.config_dir / "proxy.log").read_text(errors="replace")

    @classmethod
    def from_files(cls, files: dict[str, str], env: dict[str, str]) -> "Proxy":
        d = Path(tempfile.mkdtemp(prefix="strait-gw-"))
        for name, text in files.items():
            (d / name).write_text(text)
        return cls(config_dir=d, env=env)

    @classmethod
    def for_spec(cls, spec: GatewaySpec) -> "Proxy":
        return cls.from_files(render_gateway_files(spec), secret_env_for(spec))

    def start(self, timeout_seconds: float = 90) -> "Proxy":
        # A clean environment: nothing from the developer's shell (no PYTHONPATH, so the hook is
        # imported from the config directory exactly as in the pod, never from this checkout).
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.config_dir),
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONDONTWRITEBYTECODE": "1", **self.env}
        log = open(self.config_dir / "proxy.log", "w")
        self.proc = subprocess.Popen(
            [str(LITELLM), "--config", str(self.config_dir / CONFIG_FILE), "--host", "127.0.0.1",
             "--port", str(self.port), "--num_workers", "1"],
            cwd=self.config_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"litellm proxy exited with {self.proc.returncode}:\n{self.log[-4000:]}")
            try:
                if httpx.get(f"{self.base}/health/readiness", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"litellm proxy not ready after {timeout_seconds}s:\n{self.log[-4000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.config_dir, ignore_errors=True)

    def chat(self, model: str, content: str = "hi", *, key: str | None = None, timeout: float = 30,
             **body) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/chat/completions", timeout=timeout,
                          headers={"Authorization": f"Bearer {key or self.master_key}"},
                          json={"model": model, "messages": [{"role": "user", "content": content}], **body})


def served_by(resp: httpx.Response) -> str:
    """Which fake answered: the fakes answer 'served-by:<name>'."""
    resp.raise_for_status()
    text = resp.json()["choices"][0]["message"]["content"]
    assert text.startswith("served-by:"), text
    return text.split(":", 1)[1]
