"""Graceful drain, proven on the real LiteLLM proxy (litellm[proxy] 1.109.1, run on 127.0.0.1 with the config
Strait renders) in front of three fake model servers of one tier that honour vLLM's shutdown semantics
(tests/alerting/drain_engine.py, real processes, real SIGTERM).

Clients stream chat completions without pause. Mid-load, replica A gets SIGTERM with a 5-second shutdown
timeout (what Strait renders as `--shutdown-timeout`): every request in flight on A finishes, every new one goes
to the other replicas (A refuses them; the gateway retries elsewhere), and no client sees a failure.
The control: replica C gets SIGTERM with timeout 0 (vLLM's default, "abort"): its in-flight streams are cut and
clients do see failures, so the first result is the drain's doing and the test can fail.
"""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.fail("needs litellm[proxy]: scripts/setup.sh --test")

from strait.render.litellm import GatewaySpec, SelfHostedEndpoint, Tier  # noqa: E402
from tests.alerting.drain_engine import CHUNKS  # noqa: E402
from tests.gateway.fakes import free_port  # noqa: E402
from tests.gateway.proxy import Proxy  # noqa: E402

TIER = "serving"
ENGINE = Path(__file__).with_name("drain_engine.py")
CLIENTS = 6


@dataclass
class Replica:
    name: str
    shutdown_timeout: int
    stats_file: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    def start(self) -> "Replica":
        self.proc = subprocess.Popen([sys.executable, str(ENGINE), self.name, str(self.port), str(self.shutdown_timeout),
                                      str(self.stats_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready", self.proc.stderr.read()
        return self

    def sigterm(self) -> None:
        self.proc.terminate()  # SIGTERM, as the kubelet sends after the preStop hook

    def sigterm_when_busy(self, at_least: int = 2, within_seconds: float = 3.0) -> None:
        """SIGTERM once `at_least` requests are in flight here (so the drain has real work), or after the wait."""
        end = time.monotonic() + within_seconds
        while time.monotonic() < end:
            if httpx.get(f"http://127.0.0.1:{self.port}/inflight", timeout=1).json()["in_flight"] >= at_least:
                break
            time.sleep(0.01)
        self.sigterm()

    def stats(self, timeout: float = 15) -> dict:
        self.proc.wait(timeout=timeout)
        return json.loads(self.stats_file.read_text())

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@dataclass
class Result:
    ok: bool
    served_by: str
    started: float
    error: str = ""


def stream_once(proxy: Proxy, client: httpx.Client) -> Result:
    started = time.monotonic()
    text, done = "", False
    try:
        with client.stream("POST", f"{proxy.base}/v1/chat/completions", timeout=30,
                           headers={"Authorization": f"Bearer {proxy.master_key}"},
                           json={"model": TIER, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
            if r.status_code != 200:
                return Result(False, "", started, f"HTTP {r.status_code}: {r.read()[:200]!r}")
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[len("data: "):]
                if data == "[DONE]":
                    done = True
                    break
                msg = json.loads(data)
                if "error" in msg:
                    return Result(False, "", started, f"error chunk: {data[:200]}")
                for ch in msg.get("choices", []):
                    text += (ch.get("delta") or {}).get("content") or ""
    except httpx.HTTPError as exc:
        return Result(False, "", started, f"{type(exc).__name__}: {exc}")
    name = text.split("-tok", 1)[0]
    expected = "".join(f"{name}-tok{i} " for i in range(CHUNKS))
    if not done or text != expected:
        return Result(False, name, started, f"incomplete stream ({text!r}, done={done})")
    return Result(True, name, started)


def run_load(proxy: Proxy, seconds: float, during) -> list[Result]:
    """CLIENTS clients stream back to back for `seconds`; `during()` runs a third of the way in."""
    results: list[Result] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client_loop():
        with httpx.Client() as client:
            while time.monotonic() < stop:
                res = stream_once(proxy, client)
                with lock:
                    results.append(res)

    threads = [threading.Thread(target=client_loop) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    time.sleep(seconds / 3)
    during()
    for t in threads:
        t.join(timeout=60)
    return results


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    d = tmp_path_factory.mktemp("drain")
    replicas = {"a": Replica("a", 5, d / "a.json").start(), "b": Replica("b", 5, d / "b.json").start(),
                "c": Replica("c", 0, d / "c.json").start()}
    spec = GatewaySpec(tiers={TIER: Tier(self_hosted=tuple(
        # Distinct served names: LiteLLM keys cooldown by deployment id, which Strait derives from tier and served
        # name (strait/render/litellm.py deployment_id), so equal names would share one cooldown.
        SelfHostedEndpoint(served_model_name=f"qwen32b-{k}", api_base=f"http://127.0.0.1:{r.port}/v1",
                           api_key_env=f"VLLM_API_KEY_{k.upper()}",
                           # A takes most of the load, so several streams are in flight on it at SIGTERM.
                           weight=4 if k == "a" else 1) for k, r in replicas.items()),
        timeout_seconds=20)})
    proxy = Proxy.for_spec(spec).start()
    try:
        yield proxy, replicas
    finally:
        proxy.cleanup()
        for r in replicas.values():
            r.stop()


def test_in_flight_requests_finish_or_fail_over_while_a_replica_drains(gateway):
    proxy, replicas = gateway
    warm = [stream_once(proxy, httpx.Client()) for _ in range(3)]
    assert all(r.ok for r in warm), [r.error for r in warm]
    sigterm_at: list[float] = []

    def drain_a():
        replicas["a"].sigterm_when_busy()
        sigterm_at.append(time.monotonic())

    results = run_load(proxy, 6.0, drain_a)
    a = replicas["a"].stats()
    failures = [r.error for r in results if not r.ok]
    after = [r for r in results if r.started > sigterm_at[0] + 0.2]
    print(f"\ndrain: {len(results)} streamed requests, {len(failures)} failed; replica a: {a}")
    assert failures == []
    assert a["in_flight_at_sigterm"] >= 2  # the test drained real work, not an idle replica
    assert a["completed_during_drain"] == a["in_flight_at_sigterm"] and a["aborted"] == 0
    assert a["drain_seconds"] < 5  # finished well inside the shutdown timeout
    assert after and all(r.served_by in ("b", "c") for r in after)  # new work went to the other replicas
    assert len(results) >= 3 * CLIENTS


def test_control_without_a_drain_timeout_clients_see_the_cut(gateway):
    """vLLM's default `--shutdown-timeout 0` aborts in-flight requests: the same load now fails visibly."""
    proxy, replicas = gateway
    results = run_load(proxy, 6.0, replicas["c"].sigterm_when_busy)
    c = replicas["c"].stats()
    failures = [r.error for r in results if not r.ok]
    print(f"\nabort: {len(results)} streamed requests, {len(failures)} failed; replica c: {c}")
    assert c["aborted"] >= 2 and c["completed_during_drain"] == 0
    assert len(failures) >= 1  # cut streams reach the client: LiteLLM cannot retry after the first chunk
    # cut mid-stream (incomplete, or the gateway's error chunk), or the gateway's 5xx for a request that had
    # nowhere left to go at that instant
    assert all(f.startswith(("incomplete stream", "error chunk", "HTTP 5")) for f in failures), failures
