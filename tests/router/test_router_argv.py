"""Every argv strait/render/router.py renders is judged by the pinned vllm-router itself: its own parser and
argument checks (vllm_router.launch_router.parse_router_args, RouterArgs._validate_router_args), then the real
binary started on loopback with that argv, which must answer /health and serve /metrics (its Rust-side config
validation runs at start)."""
from __future__ import annotations

from pathlib import Path

import pytest

from strait.render.router import (
    SESSION_HEADER,
    Discovery,
    PdSpec,
    Prefill,
    RouterPolicy,
    RouterSpec,
    render_router_args,
)
from tests.router.fakes import FakeReplica, RouterProcess, free_port, http

SELECTOR = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "qwen7b"}


def _specs(urls: list[str], p: int, m: int) -> dict[str, RouterSpec]:
    base = dict(port=p, metrics_port=m, host="127.0.0.1")
    return {
        "consistent_hash-urls": RouterSpec(worker_urls=tuple(urls), **base),
        "cache_aware-urls": RouterSpec(policy=RouterPolicy.CACHE_AWARE, worker_urls=tuple(urls), cache_threshold=0.5,
                                       **base),
        "discovery": RouterSpec(discovery=Discovery(namespace="strait-serving", selector=SELECTOR, port=8000), **base),
        "pd-static": RouterSpec(pd=PdSpec(prefill=(Prefill(url=urls[0]), Prefill(url=urls[1])),
                                          decode_urls=(urls[2],), decode_policy=RouterPolicy.CONSISTENT_HASH),
                                **base),
        "pd-discovery": RouterSpec(pd=PdSpec(prefill_selector={**SELECTOR, "strait.dev/role": "prefill"},
                                             decode_selector={**SELECTOR, "strait.dev/role": "decode"},
                                             discovery_namespace="strait-serving", discovery_port=8000), **base),
    }


def test_the_session_header_is_the_routers_first_choice():
    # hash_key.rs SESSION_HEADER_NAMES[0]; the gateway forwards this one (docs/routing.md).
    assert SESSION_HEADER == "x-session-id"


@pytest.mark.parametrize("name", ["consistent_hash-urls", "cache_aware-urls", "discovery", "pd-static",
                                  "pd-discovery"])
def test_the_real_parser_accepts_and_the_binary_starts(name, tmp_path: Path):
    from vllm_router.launch_router import parse_router_args

    replicas = [FakeReplica(f"r{i}").start() for i in range(3)]
    try:
        p, m = free_port(), free_port()
        spec = _specs([r.url for r in replicas], p, m)[name]
        argv = render_router_args(spec)
        parsed = parse_router_args(argv)
        parsed._validate_router_args()
        assert parsed.port == p and parsed.prometheus_port == m and parsed.policy == str(spec.policy)
        if spec.discovery:
            assert parsed.service_discovery and parsed.selector == SELECTOR
            assert parsed.service_discovery_namespace == "strait-serving"
        if spec.pd:
            assert parsed.vllm_pd_disaggregation
            if spec.pd.prefill:
                assert parsed.prefill_urls == [(replicas[0].url, None), (replicas[1].url, None)]
                assert parsed.decode_urls == [replicas[2].url] and parsed.decode_policy == "consistent_hash"
            else:
                assert parsed.prefill_selector["strait.dev/role"] == "prefill"
                assert parsed.decode_selector["strait.dev/role"] == "decode"
        with RouterProcess(argv, p, tmp_path / "router.log") as router:
            router.wait_ready(30)
            code, body = http("GET", f"http://127.0.0.1:{m}/metrics")
            assert code == 200
            if spec.worker_urls:  # the exporter prints a metric once one has been recorded
                assert "vllm_router_active_workers 3" in body
    finally:
        for r in replicas:
            r.stop()


def test_mooncake_bootstrap_ports_reach_the_parser():
    """Mooncake's bootstrap port (parse only: at start the router queries each prefill server's bootstrap
    endpoint, which only a real vLLM prefill server with the Mooncake connector answers)."""
    from vllm_router.launch_router import parse_router_args

    spec = RouterSpec(pd=PdSpec(prefill=(Prefill(url="http://p0:8000", bootstrap_port=8998), Prefill(url="http://p1:8000")),
                                decode_urls=("http://d0:8000",), kv_connector="mooncake"))
    parsed = parse_router_args(render_router_args(spec))
    parsed._validate_router_args()
    assert parsed.prefill_urls == [("http://p0:8000", 8998), ("http://p1:8000", None)]
    assert parsed.kv_connector == "mooncake" and parsed.decode_urls == ["http://d0:8000"]


def test_the_binary_rejects_what_the_renderer_refuses(tmp_path: Path):
    """The renderer's checks are not stricter than needed: the router itself refuses a cache threshold above 1
    at start (its Rust config validation), the same value the renderer refuses."""
    p, m = free_port(), free_port()
    argv = ["--host", "127.0.0.1", "--port", str(p), "--prometheus-port", str(m), "--worker-urls",
            "http://127.0.0.1:1", "--cache-threshold", "7"]
    with RouterProcess(argv, p, tmp_path / "router.log") as router:
        with pytest.raises(AssertionError, match="cache_threshold"):
            router.wait_ready(20)
    with pytest.raises(ValueError, match="cache_threshold 7.0 must be between 0.0 and 1.0"):
        render_router_args(RouterSpec(worker_urls=("http://127.0.0.1:1",), cache_threshold=7.0))


@pytest.mark.parametrize("spec, message", [
    (RouterSpec(), "exactly one of discovery, worker_urls or pd names the replicas; got none"),
    (RouterSpec(worker_urls=("http://a:1",), discovery=Discovery(namespace="n", selector=SELECTOR, port=1)),
     "exactly one of discovery, worker_urls or pd names the replicas; got ['discovery', 'worker_urls']"),
    (RouterSpec(worker_urls=("http://a:1/v1",)), "worker url 'http://a:1/v1' is not http(s)://host[:port]"),
    (RouterSpec(discovery=Discovery(namespace="n", selector={}, port=8000)),
     "discovery.selector is empty: the router would route to every pod it can see"),
    (RouterSpec(discovery=Discovery(namespace="n", selector={"app": "a b"}, port=8000)),
     "discovery.selector app='a b' is not a valid Kubernetes label"),
    (RouterSpec(worker_urls=("http://a:1",), port=9000, metrics_port=9000),
     "port and metrics_port are both 9000: the router needs two listeners"),
    (RouterSpec(pd=PdSpec(prefill=(Prefill(url="http://p:1"),))), "pd needs at least one prefill and one decode server"),
    (RouterSpec(pd=PdSpec(prefill_selector=SELECTOR, decode_selector=SELECTOR)),
     "pd: selectors need discovery_namespace and discovery_port"),
    (RouterSpec(pd=PdSpec(prefill=(Prefill(url="http://p:1"),), decode_urls=("http://d:1",), kv_connector="moriio")),
     "pd.kv_connector moriio needs the router's ZMQ discovery"),
])
def test_bad_specs_are_refused_with_the_reason(spec, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")
                       .replace(")", r"\)")):
        render_router_args(spec)


def test_rendering_is_deterministic_and_sorts_selectors():
    a = RouterSpec(discovery=Discovery(namespace="n", selector={"b": "2", "a": "1"}, port=8000))
    b = RouterSpec(discovery=Discovery(namespace="n", selector={"a": "1", "b": "2"}, port=8000))
    assert render_router_args(a) == render_router_args(b)
    argv = render_router_args(a)
    assert argv[argv.index("--selector") + 1:argv.index("--selector") + 3] == ["a=1", "b=2"]
