"""Queue-aware overflow without the proxy: the queue parser, the watcher's cache and staleness, the rendered
rules, and the config errors (through the real stack validator)."""
from __future__ import annotations

import asyncio
import copy
import json

import httpx
import pytest
from aiohttp import web

from strait.config import ConfigError, validate_stack
from strait.gateway.overflow import OverflowRule, QueueWatcher, WatchSettings, metrics_url_for, queue_depth
from strait.gateway.spec import gateway_spec
from strait.render.litellm import RULES_FILE, render_gateway_files
from tests.conftest import load_stack_raw

VLLM = """# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="qwen"} 3.0
vllm:num_requests_waiting{engine="1",model_name="qwen"} 2.0
vllm:num_requests_waiting_by_reason{engine="0",model_name="qwen",reason="capacity"} 40.0
vllm:num_requests_running{engine="0",model_name="qwen"} 9.0
"""


def test_the_queue_is_the_sum_of_the_engines_waiting_gauges_only():
    assert queue_depth(VLLM) == 5.0  # not _by_reason, not running
    assert queue_depth('sglang:num_queue_reqs{model_name="r1",tp_rank="0"} 7\n') == 7.0
    assert queue_depth('sglang_num_queue_reqs{model_name="r1"} 2\n') == 2.0
    assert queue_depth("# no engine here\nprocess_cpu_seconds_total 3\n") is None
    assert queue_depth('vllm:num_requests_waiting{model_name="q"} NaN\n') is None


def test_metrics_url_sits_beside_the_api():
    assert metrics_url_for("http://qwen.strait-serving.svc.cluster.local:8000/v1") == \
        "http://qwen.strait-serving.svc.cluster.local:8000/metrics"
    assert metrics_url_for("http://x:30000/v1/") == "http://x:30000/metrics"


def watcher(depth=4.0, urls=("http://a/metrics", "http://b/metrics")) -> QueueWatcher:
    return QueueWatcher(rules={"fast": OverflowRule(to="commercial", queue_depth=depth, metrics_urls=urls)},
                        settings=WatchSettings(refresh_seconds=1, timeout_seconds=0.2, stale_after_seconds=5))


def test_deeper_than_the_threshold_overflows_from_fresh_readings_only():
    w = watcher()
    assert w.overflow_target("fast", now=100) == (None, None)  # nothing read yet: unknown stays
    from strait.gateway.overflow import _Reading
    w.readings["http://a/metrics"] = _Reading(depth=4, at=99)
    w.readings["http://b/metrics"] = _Reading(depth=4, at=99)
    assert w.overflow_target("fast", now=100) == (None, 4.0)  # at the threshold: stays ("deeper than")
    w.readings["http://b/metrics"] = _Reading(depth=6, at=99)
    assert w.overflow_target("fast", now=100) == ("commercial", 5.0)  # the mean per replica
    assert w.overflow_target("fast", now=103.9) == ("commercial", 5.0)  # 4.9 s old: still fresh
    w.readings["http://b/metrics"] = _Reading(depth=20, at=90)  # stale: only a's fresh 4 counts
    assert w.overflow_target("fast", now=100) == (None, 4.0)
    assert w.overflow_target("fast", now=200) == (None, None)  # all stale: unknown never overflows
    assert w.overflow_target("smart", now=100) == (None, None)


def test_a_slow_or_broken_metrics_endpoint_is_bounded_and_keeps_the_last_good_reading(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY_Q", "engine-key")

    async def run():
        state = {"mode": "ok"}

        async def metrics(request):
            if request.headers.get("Authorization") != "Bearer engine-key":
                return web.Response(status=401)
            if state["mode"] == "slow":
                await asyncio.sleep(5)
            if state["mode"] == "500":
                return web.Response(status=500)
            return web.Response(text='vllm:num_requests_waiting{model_name="q"} 9\n')

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/metrics"
        w = watcher(urls=(url, "http://127.0.0.1:9/metrics"))  # the second refuses connections
        w.rules["fast"].key_envs[url] = "VLLM_API_KEY_Q"  # the engine's key, from the pod's env
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.2)) as client:
            await w.poll(client)
            first = w.readings[url].at
            assert w.overflow_target("fast")[0] == "commercial" and "http://127.0.0.1:9/metrics" not in w.readings
            for mode in ("slow", "500"):
                state["mode"] = mode
                t = asyncio.get_running_loop().time()
                await w.poll(client)
                assert asyncio.get_running_loop().time() - t < 0.6  # bounded by the timeout, not the 5 s sleep
                assert w.readings[url].at == first  # the failed read did not replace the good one
        await runner.cleanup()
    asyncio.run(run())


def _errors(mutate) -> list[str]:
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    mutate(raw["gateway"]["tiers"])
    with pytest.raises(ConfigError) as exc:
        validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key", "openai_api_key", "deepseek_api_key"})
    return [line.removeprefix("  - ") for line in exc.value.render().splitlines()[1:]]


@pytest.mark.parametrize("mutate, field, words", [
    (lambda t: t["commercial"].update(overflow_queue_depth=4), "tiers.commercial.overflow_queue_depth",
     "no self-hosted models"),
    (lambda t: t["self-hosted"].update(overflow_to="commercial"), "tiers.self-hosted.overflow_to",
     "has no effect without overflow_queue_depth"),
    (lambda t: t["self-hosted"].update(overflow_queue_depth=4, overflow_to="self-hosted"),
     "tiers.self-hosted.overflow_to", "Fix: name a commercial tier: one of commercial"),
    (lambda t: t["self-hosted"].update(overflow_queue_depth=4, fallbacks=[]), "tiers.self-hosted.overflow_queue_depth",
     "none of its fallbacks has providers"),
    (lambda t: t["self-hosted"].update(overflow_queue_depth=-1), "tiers.self-hosted.overflow_queue_depth", "0"),
])
def test_bad_overflow_settings_name_field_value_and_fix(mutate, field, words):
    errors = _errors(mutate)
    assert len(errors) == 1 and field in errors[0] and words in errors[0], errors


def test_the_stack_setting_reaches_the_rules_the_hook_loads():
    raw = copy.deepcopy(load_stack_raw("phase1-sg"))
    raw["gateway"]["tiers"]["self-hosted"]["overflow_queue_depth"] = 6
    cfg = validate_stack(raw, "phase1-sg", secrets_set={"anthropic_api_key", "openai_api_key", "deepseek_api_key"})
    mk = cfg.gateway.tiers["self-hosted"].models[0]
    models = {k: m.model_copy(update={"max_num_seqs": 8}) for k, m in cfg.models.items()}  # the blueprint resolves it
    spec = gateway_spec(cfg.gateway, models, {mk: f"http://{mk}.strait-serving.svc.cluster.local:8000/v1"})
    files = render_gateway_files(spec)
    rules = json.loads(files[RULES_FILE])["overflow"]
    url = f"http://{mk}.strait-serving.svc.cluster.local:8000/metrics"
    assert rules == {"tiers": {"self-hosted": {"to": "commercial", "queue_depth": 6.0, "metrics_urls": [url],
                                               "metrics_key_envs": {url: f"VLLM_API_KEY_{mk.upper()}"}}}}
    assert "strait_overflow.py" in files
    w = QueueWatcher.from_dict(rules)
    assert w.rules["self-hosted"].to == "commercial" and w.settings == WatchSettings()
