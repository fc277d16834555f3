"""Faults at the edge of the fallback chain, on the real LiteLLM proxy (1.109.1) with the files Strait
renders, in front of fakes on 127.0.0.1 (issue 8, section 3):

- every tier throttled: the client gets a 429 at once, with the upstream's Retry-After;
- every tier hanging: the request ends at its one deadline, not after the sum of the tiers' timeouts,
  and a tier the deadline cut short is not cooled down for it;
- no error body names LiteLLM's or an upstream's internals;
- a stream cut or stalled after its first chunk: the client keeps what it got, then one clean
  OpenAI-style error event and [DONE] (no mid-stream switch to another model).
"""
from __future__ import annotations

import importlib.util
import json
import re
import time

import httpx
import pytest

if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("litellm") is None:
    pytest.skip("needs litellm[proxy]: scripts/setup.sh --test", allow_module_level=True)

from tests.gateway.proxy import COMMERCIAL, FAST, LONG, SMART, Fakes, Proxy, four_tier_spec, served_by  # noqa: E402

COOLDOWN = 4
FAST_TIMEOUT = 1.5   # the other tiers: 5 s each (four_tier_spec); commercial retries a timeout once
DEADLINE = 6.0       # >= every tier's timeout, as config validation requires
#: Without the deadline, every tier hanging costs 1.5 + 5 + 2 x 5 = 16.5 s (measured in benchmarks/gateway.py).
INTERNALS = re.compile(r"exception|litellm|traceback|hosted_vllm|engine dead|127\.0\.0\.1|api_base|fallback|"
                       r"model group|deployment", re.IGNORECASE)


@pytest.fixture(scope="module")
def fakes():
    f = Fakes.start()
    yield f
    f.close()


@pytest.fixture(scope="module")
def proxy(fakes):
    p = Proxy.for_spec(four_tier_spec(fakes, cooldown_seconds=COOLDOWN, fast_timeout=FAST_TIMEOUT,
                                      fast_max_parallel=None, request_deadline_seconds=DEADLINE)).start()
    p.chat(FAST)  # warm: the first request pays for lazy imports
    yield p
    p.cleanup()


@pytest.fixture
def clean(fakes, proxy):
    """Healthy fakes, and any cooldown from the previous test expired."""
    fakes.reset()
    for f in fakes.all():
        f.retry_after_seconds = None
    time.sleep(COOLDOWN + 0.5)
    yield fakes
    fakes.reset()


def assert_clean(resp: httpx.Response) -> dict:
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert not INTERNALS.search(body["error"]["message"]), body
    assert not any(k.lower().startswith("llm_provider-") for k in resp.headers), dict(resp.headers)
    return body["error"]


def test_every_tier_throttled_gives_429_at_once_with_the_upstreams_retry_after(proxy, clean):
    for f in clean.all():
        f.mode, f.retry_after_seconds = "429", 10
    t = time.monotonic()
    r = proxy.chat(FAST)
    elapsed = time.monotonic() - t
    assert r.status_code == 429, r.text
    assert r.headers["retry-after"] == "10"
    err = assert_clean(r)
    assert err["type"] == "rate_limit_error" and "Retry after 10 s" in err["message"]
    # each tier of the chain was asked once; the gateway did not sleep on Retry-After itself
    assert (len(clean.fast.hits), len(clean.smart.hits)) == (1, 1)
    assert sum(len(f.hits) for f in (clean.openai, clean.anthropic, clean.deepseek)) == 1
    assert elapsed < 5.0, elapsed  # had the gateway slept on Retry-After even once, >= 10 s
    # A throttled tier is not cooled down: once the upstreams recover, the next request is served at once.
    for f in clean.all():
        f.mode = "ok"
    assert served_by(proxy.chat(FAST)) == "fast"


def test_every_tier_hanging_ends_at_the_request_deadline(proxy, clean):
    for f in clean.all():
        f.mode, f.hang_seconds = "hang", 60
    t = time.monotonic()
    r = proxy.chat(FAST, timeout=60)
    elapsed = time.monotonic() - t
    print(f"every tier hanging: {r.status_code} after {elapsed:.2f} s (deadline {DEADLINE} s)")
    assert r.status_code == 504, r.text
    err = assert_clean(r)
    assert err["type"] == "timeout" and f"{DEADLINE:g} s deadline" in err["message"]
    assert DEADLINE - 0.3 <= elapsed <= DEADLINE + 1.5, elapsed
    # fast used its own 1.5 s timeout, smart got the 4.5 s left and was cut; commercial was never called
    assert (len(clean.fast.hits), len(clean.smart.hits)) == (1, 1)
    assert not (clean.openai.hits or clean.anthropic.hits or clean.deepseek.hits)
    # The deadline, not smart, ended smart's attempt, so smart is not cooled down: within the 4 s cooldown
    # window after it, smart serves again. (A tier that hangs past its own timeout is cooled down:
    # test_gateway_proxy.py::test_a_hanging_upstream_times_out_once_then_is_skipped.)
    for f in clean.all():
        f.mode = "ok"
    assert served_by(proxy.chat(SMART)) == "smart"


def test_a_failing_chain_gives_a_clean_502_that_names_no_internals(proxy, clean):
    for f in clean.all():
        f.mode = "fail"  # {"error": {"message": "engine dead"}} with a 500
    r = proxy.chat(SMART)
    assert r.status_code == 502, r.text
    err = assert_clean(r)
    assert err == {"message": "No upstream could serve model 'self-hosted-smart'. Retry later.",
                   "type": "upstream_error", "param": None, "code": "502"}
    assert "engine dead" in proxy.log  # the operator still sees the upstream's own words in the log


def test_a_request_too_long_everywhere_gets_the_upstreams_own_400_message(proxy, clean):
    for f in (clean.long, clean.openai, clean.anthropic, clean.deepseek):
        f.context_window = 200
    r = proxy.chat(LONG, "y" * 4000)
    assert r.status_code == 400, r.text
    err = assert_clean(r)
    assert err["message"].startswith("This model's maximum context length is 200 tokens.")
    assert err["type"] == "invalid_request_error"


def _stream(proxy: Proxy, model: str) -> tuple[int, list[dict | str], float]:
    t = time.monotonic()
    with httpx.stream("POST", f"{proxy.base}/v1/chat/completions", timeout=30,
                      headers={"Authorization": f"Bearer {proxy.master_key}"},
                      json={"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}) as r:
        events = [line[6:] if line == "data: [DONE]" else json.loads(line[6:])
                  for line in r.iter_lines() if line.startswith("data: ")]
        return r.status_code, events, time.monotonic() - t


@pytest.mark.parametrize("mode, status, kind", [("cut", "502", "upstream_error"), ("stall", "504", "timeout")])
def test_a_stream_cut_or_stalled_after_its_first_chunk(proxy, clean, mode, status, kind):
    """The 200 and the first chunk are already on the wire, so the client gets what the upstream sent,
    then one error event in OpenAI's shape, then [DONE]. The stall is noticed after the tier's
    stream_timeout without a chunk (here 1.5 s). The gateway does not continue on another tier: a
    different model would finish a sentence it did not start, so the client retries the request."""
    clean.fast.mode, clean.fast.hang_seconds = mode, 20
    code, events, elapsed = _stream(proxy, FAST)
    assert code == 200
    assert events[0]["choices"][0]["delta"]["content"] == "served-by:"
    assert events[-1] == "[DONE]"
    error = events[-2]["error"]
    assert (error["code"], error["type"]) == (status, kind)
    assert not INTERNALS.search(error["message"])
    assert len(events) == 3, events  # no chunk from another tier
    assert not clean.smart.hits
    if mode == "stall":
        assert FAST_TIMEOUT - 0.2 <= elapsed <= FAST_TIMEOUT + 1.5, elapsed


def test_a_client_cannot_set_the_deadline(proxy, clean):
    """The deadline lives in request metadata, which clients may also send: the hook overwrites it."""
    from strait.gateway.hook import DEADLINE_KEY

    r = proxy.chat(FAST, metadata={DEADLINE_KEY: 0})  # "already passed", if it were trusted
    assert served_by(r) == "fast"
