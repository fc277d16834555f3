"""Queue-aware overflow on the real LiteLLM proxy (1.109.1), with the files Strait renders, in front of a fake
vLLM whose /metrics reports a waiting queue the test sets, and a fake commercial API.

Measured and printed (pytest -s): overflow share below the threshold, time from the queue crossing the
threshold to the first overflowed request, share while deep, time for traffic to come back once drained,
and request latency while /metrics hangs."""
from __future__ import annotations

import re
import time

import httpx
import pytest
from aiohttp import web

from strait.render.litellm import GatewaySpec, Overflow, ProviderModel, SelfHostedEndpoint, Tier
from tests.gateway.fakes import FakeUpstream
from tests.gateway.proxy import Proxy

FAST, COMMERCIAL = "self-hosted-fast", "commercial"
THRESHOLD = 4  # waiting requests per replica


class FakeEngine(FakeUpstream):
    """A fake vLLM that also serves /metrics with ``vllm:num_requests_waiting`` = ``queue``."""

    queue: float = 0.0
    metrics_delay_seconds: float = 0.0
    metrics_reads: int = 0
    metrics_key: str | None = None
    """When set, /metrics wants ``Authorization: Bearer <key>`` (401 otherwise), as some SGLang releases do."""

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def _metrics(self, request: web.Request) -> web.Response:
        import asyncio
        if self.metrics_key and request.headers.get("Authorization") != f"Bearer {self.metrics_key}":
            return web.Response(status=401)
        self.metrics_reads += 1
        if self.metrics_delay_seconds:
            await asyncio.sleep(self.metrics_delay_seconds)
        body = ("# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
                "# TYPE vllm:num_requests_waiting gauge\n"
                f'vllm:num_requests_waiting{{engine="0",model_name="small"}} {self.queue}\n'
                f'vllm:num_requests_running{{engine="0",model_name="small"}} 8.0\n')
        return web.Response(text=body, content_type="text/plain")


def overflow_spec(engine: FakeEngine, openai: FakeUpstream) -> GatewaySpec:
    return GatewaySpec(tiers={
        FAST: Tier(self_hosted=(SelfHostedEndpoint(served_model_name="small", api_base=f"{engine.base}/v1",
                                                   api_key_env="VLLM_API_KEY_SMALL", max_model_len=4096),),
                   fallbacks=(COMMERCIAL,), timeout_seconds=5,
                   overflow=Overflow(to=COMMERCIAL, queue_depth=THRESHOLD, metrics_urls=(f"{engine.base}/metrics",),
                                     metrics_key_envs=("VLLM_API_KEY_SMALL",))),
        COMMERCIAL: Tier(providers=(ProviderModel(provider="openai", model="gpt-5-mini", api_base=f"{openai.base}/v1"),),
                         timeout_seconds=5),
    }, cooldown_seconds=5, allowed_fails=0)


@pytest.fixture(scope="module")
def setup():
    engine, openai = FakeEngine("fast"), FakeUpstream("openai")
    proxy = Proxy.for_spec(overflow_spec(engine, openai))
    engine.metrics_key = proxy.env["VLLM_API_KEY_SMALL"]  # the gateway authenticates its scrape with the engine's key
    proxy.start()
    client = httpx.Client(base_url=proxy.base, timeout=10, headers={"Authorization": f"Bearer {proxy.master_key}"})
    try:
        yield engine, openai, proxy, client
    finally:
        client.close()
        proxy.cleanup()
        engine.close()
        openai.close()


def ask(client: httpx.Client) -> tuple[str, float]:
    t = time.monotonic()
    r = client.post("/v1/chat/completions", json={"model": FAST, "messages": [{"role": "user", "content": "hi"}]})
    r.raise_for_status()
    return r.json()["choices"][0]["message"]["content"].split(":", 1)[1], time.monotonic() - t


def run_for(client: httpx.Client, seconds: float, gap: float = 0.05) -> list[tuple[float, str, float]]:
    """(time since start, who served, latency) for requests sent one after another for ``seconds``."""
    out, start = [], time.monotonic()
    while time.monotonic() - start < seconds:
        who, lat = ask(client)
        out.append((time.monotonic() - start, who, lat))
        time.sleep(gap)
    return out


def overflowed(rows) -> float:
    return sum(1 for _, who, _ in rows if who == "openai") / len(rows)


def counter(proxy: Proxy) -> float:
    text = httpx.get(f"{proxy.base}/metrics/", follow_redirects=True, headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=5).text
    m = re.search(r'^strait_gateway_overflow_requests_total\{[^}]*tier="self-hosted-fast"[^}]*\} (\S+)$', text, re.M)
    m = m or re.search(r'^strait_gateway_overflow_requests_total\{[^}]*to="commercial"[^}]*\} (\S+)$', text, re.M)
    return float(m.group(1)) if m else 0.0


def test_overflow_follows_the_engines_real_queue(setup):
    engine, openai, proxy, client = setup
    figures = {}

    # Below the threshold (and at it: "deeper than" is strict): nothing overflows.
    engine.queue = THRESHOLD
    run_for(client, 2.5)  # the poller starts with the first request; let it read the queue
    below = run_for(client, 4)
    assert engine.metrics_reads >= 3, "the gateway never read the engine's /metrics"
    figures["below threshold: requests"] = len(below)
    figures["below threshold: overflow %"] = 100 * overflowed(below)
    assert overflowed(below) == 0.0

    # Deeper than the threshold: overflow starts within 2 s, then takes every request.
    before = counter(proxy)
    engine.queue = THRESHOLD + 6
    deep = run_for(client, 5)
    first = next((t for t, who, _ in deep if who == "openai"), None)
    assert first is not None, "the queue was deep for 5 s and nothing overflowed"
    figures["deep: first overflow after s"] = round(first, 2)
    settled = [r for r in deep if r[0] >= first + 1.0]
    figures["deep (from 1 s after the first): overflow %"] = round(100 * overflowed(settled), 1)
    assert first <= 2.0
    assert overflowed(settled) == 1.0
    n_over = sum(1 for _, who, _ in deep if who == "openai")
    time.sleep(1.5)  # the metrics process reads the worker's samples
    figures["overflow counter delta / overflowed answers"] = f"{counter(proxy) - before:g} / {n_over}"
    assert counter(proxy) - before == n_over

    # Drained: traffic comes back to the self-hosted tier.
    engine.queue = 0
    drained = run_for(client, 5)
    back = next((t for t, who, _ in drained if who == "fast"), None)
    assert back is not None
    figures["drained: first self-hosted answer after s"] = round(back, 2)
    later = [r for r in drained if r[0] >= back + 1.0]
    figures["drained (from 1 s after): overflow %"] = 100 * overflowed(later)
    assert back <= 2.0 and overflowed(later) == 0.0

    # A /metrics that hangs never stalls a request, and an unknown queue does not overflow.
    engine.queue, engine.metrics_delay_seconds = THRESHOLD + 6, 30
    hung = run_for(client, 8)
    late = [r for r in hung if r[0] >= 6.0]  # past stale_after_seconds (5 s): the last good reading (0) expired
    figures["metrics hanging: max request latency s"] = round(max(lat for _, _, lat in hung), 3)
    figures["metrics hanging, reading stale: overflow %"] = 100 * overflowed(late)
    assert max(lat for _, _, lat in hung) < 1.0
    assert late and overflowed(late) == 0.0
    engine.metrics_delay_seconds = 0
    for name, value in proxy.env.items():  # the engine key the scrape sends is logged nowhere
        assert value not in proxy.log, f"{name} leaked into the proxy log"

    print("\nqueue-aware overflow, measured on the real LiteLLM proxy:")
    for k, v in figures.items():
        print(f"  {k}: {v}")
