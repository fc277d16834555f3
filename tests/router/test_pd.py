"""Prefill/decode disaggregation through the real router (rendered P/D argv) in front of fake prefill and decode
servers that speak vLLM's NixlConnector protocol on loopback: every request is prefilled (max_tokens 1, asking
for a remote decode), then decoded on a decode server that receives the prefill server's kv_transfer_params, and
with consistent_hash on both pools a session keeps its prefill and its decode server."""
from __future__ import annotations

import collections
from pathlib import Path

from strait.render.router import PD_SERVER_KEY_ENV, SESSION_HEADER, PdSpec, Prefill, RouterPolicy, RouterSpec, render_router_args
from tests.router.fakes import MODEL, FakeReplica, RouterProcess, free_port, http

SESSIONS, TURNS = 20, 3


def test_each_request_is_prefilled_then_decoded_with_the_kv_handle(tmp_path: Path):
    prefill = [FakeReplica(f"p{i}", kv_role="prefill").start() for i in range(2)]
    decode = [FakeReplica(f"d{i}").start() for i in range(2)]
    port, metrics = free_port(), free_port()
    spec = RouterSpec(pd=PdSpec(prefill=tuple(Prefill(url=p.url) for p in prefill),
                                decode_urls=tuple(d.url for d in decode),
                                prefill_policy=RouterPolicy.CONSISTENT_HASH,
                                decode_policy=RouterPolicy.CONSISTENT_HASH),
                      port=port, metrics_port=metrics, host="127.0.0.1")
    answers: dict[str, list[str]] = collections.defaultdict(list)
    try:
        # The servers' key, as the component sets it from a Secret (never in argv).
        with RouterProcess(render_router_args(spec), port, tmp_path / "router.log",
                           env={PD_SERVER_KEY_ENV: "server-key"}) as router:
            router.wait_ready(30)
            for turn in range(TURNS):
                for s in range(SESSIONS):
                    code, text = http("POST", f"http://127.0.0.1:{port}/v1/chat/completions",
                                      {"model": MODEL, "max_tokens": 64,
                                       "messages": [{"role": "user", "content": f"s{s} turn {turn}"}]},
                                      {SESSION_HEADER: f"s{s}", "Authorization": "Bearer caller-key"}, timeout=30)
                    assert code == 200, text
                    answers[f"s{s}"].append(text.split("served-by:")[1].split('"')[0])
    finally:
        for r in (*prefill, *decode):
            r.stop()
    p_seen = [e for p in prefill for e in p.served]
    d_seen = [e for d in decode for e in d.served]
    assert len(p_seen) == len(d_seen) == SESSIONS * TURNS
    # Prefill: one token, and a request for the KV to be kept for a remote decode.
    assert all(e["max_tokens"] == 1 and e["kv_transfer_params"]["do_remote_decode"] is True for e in p_seen)
    # Decode: the client's max_tokens, and the handle the prefill server returned (its engine and blocks).
    assert all(e["max_tokens"] == 64 and e["kv_transfer_params"]["do_remote_prefill"] is True
               and e["kv_transfer_params"]["remote_engine_id"] in {"engine-p0", "engine-p1"} for e in d_seen)
    # The client's answer is the decode server's; a session keeps its decode server and its prefill server.
    assert all(a.startswith("d") for seq in answers.values() for a in seq)
    # The router does not pass x-session-id on to the servers; the decode server's answer names the prefill
    # engine whose KV it used, so each session's prefill server is read from its answers.
    assert {e["session"] for e in (*p_seen, *d_seen)} == {None}
    assert all(len(set(seq)) == 1 and " prefilled-by:engine-p" in seq[0] for seq in answers.values())
    # P/D mode sends the router's own key ($OPENAI_API_KEY) to both servers, never the caller's.
    assert {e["authorization"] for e in (*p_seen, *d_seen)} == {"Bearer server-key"}
    print(f"\nP/D: {len(d_seen)} requests, each prefilled then decoded with the prefill's KV handle; sessions per "
          f"(decode, prefill) pair {dict(collections.Counter(seq[0] for seq in answers.values()))}")
