"""The real LiteLLM proxy (1.109.1), started with exactly the config.yaml, hook and rules Strait
renders, in front of fake upstreams this module controls. One proxy for the whole module.

Tests share the proxy's router state (cooldowns, breaker), so every test starts from
``clean``: fakes healthy, and any cooldown from an earlier test expired.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib.util
import json
import time

import httpx
import pytest

# find_spec, not import: the proxy runs in its own process, and importing LiteLLM here costs ~10 s.
if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)

from strait.render.litellm import render_gateway_files  # noqa: E402
from tests.gateway.proxy import COMMERCIAL, FAST, LONG, SMART, Fakes, Proxy, four_tier_spec, served_by  # noqa: E402

COOLDOWN = 4
FAST_TIMEOUT = 1.5


@pytest.fixture(scope="module")
def fakes():
    f = Fakes.start()
    yield f
    f.close()


@pytest.fixture(scope="module")
def spec(fakes):
    return four_tier_spec(fakes, cooldown_seconds=COOLDOWN, fast_timeout=FAST_TIMEOUT, fast_max_parallel=2)


@pytest.fixture(scope="module")
def proxy(spec):
    p = Proxy.for_spec(spec).start()
    yield p
    p.cleanup()


_last_failure = [0.0]


@pytest.fixture
def clean(fakes, proxy):
    """Healthy fakes and no open cooldown left over from the previous test."""
    wait = _last_failure[0] + COOLDOWN + 0.5 - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    fakes.reset()
    yield fakes
    if any(f.mode != "ok" for f in fakes.all()):
        _last_failure[0] = time.monotonic()
    fakes.reset()


def test_the_proxy_loaded_the_strait_hook_from_the_config_directory(proxy):
    assert (proxy.config_dir / "strait_hook.py").exists()
    # The proxy process had no PYTHONPATH: the hook can only come from the config dir (see Proxy.start).
    assert "strait_hook" not in proxy.log or "Traceback" not in proxy.log
    r = proxy.chat("auto")
    assert r.status_code == 200, r.text


def test_each_tier_is_served_by_its_own_upstream(proxy, clean):
    assert served_by(proxy.chat(FAST)) == "fast"
    assert served_by(proxy.chat(SMART)) == "smart"
    assert served_by(proxy.chat(LONG)) == "long"
    seen = set()
    for _ in range(60):  # simple-shuffle over three providers: all three within 60 draws (p(miss) ~ 1e-10)
        seen.add(served_by(proxy.chat(COMMERCIAL)))
        if seen == {"anthropic", "openai", "deepseek"}:
            break
    assert seen == {"anthropic", "openai", "deepseek"}
    # Each upstream got its own key from the pod's environment, never another tier's.
    assert {h.auth for h in clean.fast.hits} == {f"Bearer {proxy.env['VLLM_API_KEY_SMALL']}"}
    assert {h.auth for h in clean.anthropic.hits} == {proxy.env["ANTHROPIC_API_KEY"]}
    assert {h.path for h in clean.anthropic.hits} == {"/v1/messages"}
    assert {h.auth for h in clean.deepseek.hits} == {f"Bearer {proxy.env['DEEPSEEK_API_KEY']}"}


def test_auto_sends_trivial_requests_to_fast_and_complex_ones_up_the_ladder(proxy, clean):
    assert served_by(proxy.chat("auto", "What is the capital of France?")) == "fast"
    assert served_by(proxy.chat("auto", "Prove step by step that the square root of 2 is irrational.")) in \
        {"anthropic", "openai", "deepseek"}
    tools = [{"type": "function", "function": {"name": f"tool{i}", "parameters": {"type": "object", "properties": {}}}}
             for i in range(4)]
    assert served_by(proxy.chat("auto", "Book me a table", tools=tools)) == "smart"
    # ~3000 tokens: over the fast tier's 2048 window, under long-context's.
    assert served_by(proxy.chat("auto", "summarise this: " + "lorem ipsum " * 1000)) == "long"


def test_clients_can_still_name_a_tier_or_a_deployment_group_directly(proxy, clean):
    assert served_by(proxy.chat(SMART, "Prove step by step that 1+1=2")) == "smart"  # no classifier on a tier name


def test_a_failing_tier_costs_one_attempt_per_cooldown_window_not_one_per_request(proxy, clean):
    clean.fast.mode = "fail"  # vLLM up but its engine dead: 500 on every request
    start = time.monotonic()
    for _ in range(8):
        assert served_by(proxy.chat(FAST)) == "smart"
    assert len(clean.fast.hits) == 1, "after the first failure, requests must skip the failing tier"
    time.sleep(COOLDOWN + 0.5 - (time.monotonic() - start))
    assert served_by(proxy.chat(FAST)) == "smart"
    assert len(clean.fast.hits) == 2, "after the cooldown, one request probes the tier again"
    clean.fast.mode = "ok"
    time.sleep(COOLDOWN + 0.5)
    assert served_by(proxy.chat(FAST)) == "fast"


def test_a_dropped_connection_is_cooled_down_too(proxy, clean):
    """A pod killed mid-request. LiteLLM 1.109.1 maps the dropped connection (and a refused one) to
    InternalServerError, not APIConnectionError, whose cooldown it skips (litellm#27362), so the
    same allowed_fails/cooldown settings cover it; this test would catch a version that changes that."""
    clean.fast.mode = "reset"
    for _ in range(6):
        assert served_by(proxy.chat(FAST)) == "smart"
    assert len(clean.fast.hits) == 1


def test_an_upstream_that_is_down_falls_back_without_a_visible_delay(proxy, clean):
    clean.fast.stop()  # connection refused, like a Service with no ready pod
    times = []
    for _ in range(6):
        t = time.monotonic()
        assert served_by(proxy.chat(FAST)) == "smart"
        times.append(time.monotonic() - t)
    assert max(times) < 1.5, times  # no backoff sleep (up to seconds) before failing over


def test_a_hanging_upstream_times_out_once_then_is_skipped(proxy, clean):
    clean.fast.mode, clean.fast.hang_seconds = "hang", 30
    t = time.monotonic()
    assert served_by(proxy.chat(FAST)) == "smart"
    first = time.monotonic() - t
    assert FAST_TIMEOUT * 0.9 <= first < FAST_TIMEOUT + 3, first
    t = time.monotonic()
    for _ in range(5):
        assert served_by(proxy.chat(FAST)) == "smart"
    assert (time.monotonic() - t) / 5 < 0.5
    assert len(clean.fast.hits) == 1


def test_a_dead_chain_falls_through_to_commercial(proxy, clean):
    clean.fast.mode = clean.smart.mode = "fail"
    assert served_by(proxy.chat(FAST)) in {"anthropic", "openai", "deepseek"}


def test_upstream_429_falls_back_but_does_not_cool_the_tier(proxy, clean):
    clean.fast.mode = "429"
    for _ in range(3):
        assert served_by(proxy.chat(FAST)) == "smart"
    assert len(clean.fast.hits) == 3, "a busy tier is retried on the next request; only broken ones are skipped"


def test_overflow_past_max_parallel_requests_goes_to_the_next_tier(proxy, clean):
    clean.fast.delay_seconds = 1.0  # every answer takes 1 s (< the 1.5 s tier timeout), so requests pile up
    with cf.ThreadPoolExecutor(6) as pool:
        who = list(pool.map(lambda _: served_by(proxy.chat(FAST)), range(6)))
    assert who.count("fast") == 2, who  # the rendered max_parallel_requests
    assert who.count("smart") == 4, who
    clean.fast.delay_seconds = 0
    assert served_by(proxy.chat(FAST)) == "fast", "overflow must not cool the tier down"


def test_an_over_long_prompt_goes_to_long_context(proxy, clean):
    # The hook's estimate: ~3000 tokens > fast's 2048 window: rerouted before any upstream call.
    assert served_by(proxy.chat(FAST, "x" * 12000)) == "long"
    assert clean.fast.hits == []
    # The estimate missed (the server's real window is smaller): vLLM's 400 triggers LiteLLM's
    # context_window_fallbacks.
    clean.fast.context_window = 200
    assert served_by(proxy.chat(FAST, "y" * 4000)) == "long"
    assert len(clean.fast.hits) == 1


def test_streaming_passes_through_end_to_end(proxy, clean):
    def stream(model):
        with httpx.stream("POST", f"{proxy.base}/v1/chat/completions", timeout=30,
                          headers={"Authorization": f"Bearer {proxy.master_key}"},
                          json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            chunks = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
        return "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"]), len(chunks)

    text, n = stream(FAST)
    assert text == "served-by:fast" and n >= 2
    assert clean.fast.hits[-1].stream is True
    clean.fast.stop()
    text, _ = stream(FAST)
    assert text == "served-by:smart"


def test_a_wrong_or_missing_key_is_rejected_before_any_upstream(proxy, clean):
    # Without a database (spend_tracking off) the master key is the only key; LiteLLM answers any
    # other with 400 no_db_connection, with a database 401. Either way nothing reaches an upstream.
    for key in ("sk-" + "0" * 48, "not-a-litellm-key", proxy.master_key[:-1]):
        r = proxy.chat(FAST, key=key)
        assert r.status_code in (400, 401), r.text
        assert r.json()["error"]["type"] in ("no_db_connection", "auth_error"), r.text
    none = httpx.post(f"{proxy.base}/v1/chat/completions", json={"model": FAST, "messages": []}, timeout=10)
    assert none.status_code == 401
    assert all(f.hits == [] for f in clean.all())


def test_metrics_need_a_key(proxy):
    assert httpx.get(f"{proxy.base}/metrics/", timeout=10, follow_redirects=True).status_code == 401
    ok = httpx.get(f"{proxy.base}/metrics/", headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=10,
                   follow_redirects=True)
    assert ok.status_code == 200
    assert "litellm_" in ok.text


def test_no_secret_reaches_any_rendered_file_or_the_proxy_log(proxy, spec):
    files = render_gateway_files(spec)
    on_disk = {p.name: p.read_text() for p in proxy.config_dir.iterdir() if p.name in files}
    assert on_disk == files
    for name, value in proxy.env.items():
        for fname, text in files.items():
            assert value not in text, f"{name} leaked into {fname}"
        assert value not in proxy.log, f"{name} leaked into the proxy log"
