"""Through the gateway: the real LiteLLM proxy (Strait's rendered config) -> the real vllm-router -> three fake
replicas, all on loopback. The client's x-session-id reaches the router only because the tier is listed in
``forward_client_headers_tiers`` (LiteLLM's model_group_settings.forward_client_headers_to_llm_api), and then
every session stays on one replica."""
from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from strait.render.litellm import (
    CONFIG_FILE,
    MASTER_KEY_ENV,
    GatewaySpec,
    SelfHostedEndpoint,
    Tier,
    key_env_for,
    render_gateway_files,
)
from strait.render.router import SESSION_HEADER, RouterSpec, render_router_args
from tests.router.fakes import MODEL, FakeReplica, RouterProcess, free_port, http

MASTER_KEY = "sk-strait-router-" + "0123456789abcdef" * 2
TIER = "fast"
SESSIONS, TURNS = 20, 3


def _spec(router_url: str, forward: bool) -> GatewaySpec:
    ep = SelfHostedEndpoint(served_model_name=MODEL, api_base=router_url + "/v1", api_key_env=key_env_for(MODEL))
    return GatewaySpec(tiers={TIER: Tier(self_hosted=(ep,), timeout_seconds=20)}, num_retries=0, metrics=False,
                       forward_client_headers_tiers=(TIER,) if forward else ())


class Proxy:
    def __init__(self, workdir: Path, spec: GatewaySpec):
        self.workdir, self.spec, self.port = workdir, spec, free_port()

    def __enter__(self) -> "Proxy":
        for name, text in render_gateway_files(self.spec).items():
            (self.workdir / name).write_text(text)
        exe = shutil.which("litellm", path=str(Path(sys.executable).parent)) or "litellm"
        env = {**os.environ, MASTER_KEY_ENV: MASTER_KEY, key_env_for(MODEL): "replica-key",
               "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_TELEMETRY": "False", "NO_DOCKER": "1"}
        self.log = open(self.workdir / "litellm.log", "w")
        self.proc = subprocess.Popen([exe, "--config", str(self.workdir / CONFIG_FILE), "--host", "127.0.0.1",
                                      "--port", str(self.port), "--num_workers", "1"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError((self.workdir / "litellm.log").read_text()[-3000:])
            if http("GET", f"http://127.0.0.1:{self.port}/health/liveliness", timeout=2)[0] == 200:
                return self
            time.sleep(0.5)
        raise AssertionError("litellm did not start within 120 s")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def routed(tmp_path):
    replicas = [FakeReplica(f"r{i}").start() for i in range(3)]
    port, metrics = free_port(), free_port()
    spec = RouterSpec(worker_urls=tuple(r.url for r in replicas), port=port, metrics_port=metrics, host="127.0.0.1")
    with RouterProcess(render_router_args(spec), port, tmp_path / "router.log") as router:
        router.wait_ready(30)
        yield f"http://127.0.0.1:{port}", replicas
    for r in replicas:
        r.stop()


def _conversation(proxy_port: int) -> dict[str, list[str | None]]:
    served: dict[str, list[str | None]] = collections.defaultdict(list)
    for turn in range(TURNS):
        for s in range(SESSIONS):
            code, text = http("POST", f"http://127.0.0.1:{proxy_port}/v1/chat/completions",
                              {"model": TIER, "messages": [{"role": "user", "content": f"s{s} turn {turn}"}]},
                              {"Authorization": f"Bearer {MASTER_KEY}", SESSION_HEADER: f"s{s}"}, timeout=60)
            assert code == 200, text
            content = json.loads(text)["choices"][0]["message"]["content"]
            served[f"s{s}"].append(content.removeprefix("served-by:"))
    return served


def test_the_rendered_setting():
    from strait.render.litellm import render_litellm_config

    cfg = render_litellm_config(_spec("http://router:8000", forward=True))
    assert cfg["litellm_settings"]["model_group_settings"] == {"forward_client_headers_to_llm_api": [TIER]}
    assert "model_group_settings" not in render_litellm_config(_spec("http://router:8000", forward=False))[
        "litellm_settings"]


@pytest.mark.parametrize("forward", [True, False], ids=["forwarded", "not-forwarded"])
def test_the_session_header_crosses_the_gateway_only_when_forwarded(routed, tmp_path, forward):
    router_url, replicas = routed
    with Proxy(tmp_path, _spec(router_url, forward)) as proxy:
        served = _conversation(proxy.port)
    seen = [e for r in replicas for e in r.served]
    assert len(seen) == SESSIONS * TURNS
    # The replica's key, from the gateway's env, never the client's master key.
    assert {e["authorization"] for e in seen} == {"Bearer replica-key"}
    if forward:
        assert {e["session"] for e in seen} == {f"s{s}" for s in range(SESSIONS)}
        same = sum(1 for seq in served.values() for w in seq if w == seq[0])
        print(f"\ngateway -> router stickiness: {same}/{SESSIONS * TURNS} = {same / (SESSIONS * TURNS):.1%}; "
              f"sessions per replica {dict(collections.Counter(seq[0] for seq in served.values()))}")
        assert same / (SESSIONS * TURNS) >= 0.95
    else:
        assert {e["session"] for e in seen} == {None}
