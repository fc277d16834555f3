"""The real vllm-router (rendered argv, consistent_hash) in front of three fake replicas on loopback.

Measured and printed (run with -s to see the figures; docs/routing.md quotes them):
- stickiness: the share of a session's requests served by the replica that served its first one;
- failover: after a replica dies, every request still succeeds, the dead replica's sessions move, the others stay.
"""
from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from strait.render.router import SESSION_HEADER, RouterPolicy, RouterSpec, render_router_args
from tests.router.fakes import MODEL, FakeReplica, RouterProcess, free_port, http

SESSIONS = 60
TURNS = 5


def _chat(port: int, session: str, turn: int, *, by_header: bool = True) -> tuple[int, str | None]:
    # Each conversation opens with its own system prompt, then grows turn by turn.
    history = [{"role": "system", "content": f"{session}: you are a careful assistant. " * 4}]
    for t in range(turn + 1):  # a growing conversation: each turn repeats the previous ones (a shared prefix)
        history += [{"role": "user", "content": f"{session} question {t}"},
                     {"role": "assistant", "content": f"answer {t}"}]
    body = {"model": MODEL, "messages": history[:-1], "max_tokens": 8}
    headers = {"Authorization": "Bearer test-key"}
    if by_header:
        headers[SESSION_HEADER] = session
    else:
        body["user"] = session  # the OpenAI `user` field: the router's body fallback
    code, text = http("POST", f"http://127.0.0.1:{port}/v1/chat/completions", body, headers, timeout=30)
    served = text.split("served-by:")[1].split('"')[0] if code == 200 and "served-by:" in text else None
    return code, served


@pytest.fixture
def cluster(tmp_path: Path):
    replicas = [FakeReplica(f"r{i}").start() for i in range(3)]
    port, metrics = free_port(), free_port()
    spec = RouterSpec(worker_urls=tuple(r.url for r in replicas), port=port, metrics_port=metrics, host="127.0.0.1",
                      health_check_interval_seconds=1, health_failure_threshold=1)
    alive = set(range(3))
    with RouterProcess(render_router_args(spec), port, tmp_path / "router.log") as router:
        router.wait_ready(30)
        yield router, replicas, port, metrics, alive
    for i in alive:
        replicas[i].stop()


def test_requests_of_a_session_land_on_the_same_replica(cluster, by_header=True):
    """By the header only. The body fallback (the OpenAI ``user`` field) does not spread chat requests in 0.1.17:
    its field scan stops at the first ``"user"`` string, which is a message's role (docs/routing.md)."""
    _, replicas, port, _, _ = cluster
    served: dict[str, list[str | None]] = collections.defaultdict(list)
    for turn in range(TURNS):
        for s in range(SESSIONS):
            code, who = _chat(port, f"s{s}", turn, by_header=by_header)
            assert code == 200
            served[f"s{s}"].append(who)
    same = sum(1 for seq in served.values() for w in seq if w == seq[0])
    total = SESSIONS * TURNS
    share = same / total
    spread = collections.Counter(seq[0] for seq in served.values())
    print(f"\nstickiness ({'header' if by_header else 'user field'}): {same}/{total} = {share:.1%} of requests on "
          f"their session's first replica; sessions per replica {dict(sorted(spread.items()))}")
    assert share >= 0.95
    # Sticky, but not everything on one replica: the sessions spread over all three.
    assert len(spread) == 3 and min(spread.values()) >= SESSIONS // 10
    # The router passes the caller's credentials to the replica (vLLM's --api-key guards /v1).
    assert all(e["authorization"] == "Bearer test-key" for r in replicas for e in r.served)
    if by_header:
        assert all(e["session"] is not None for r in replicas for e in r.served)


def test_when_a_replica_dies_its_sessions_move_and_none_is_lost(cluster):
    _, replicas, port, metrics, alive = cluster
    home: dict[str, str] = {}
    for s in range(SESSIONS):
        code, who = _chat(port, f"s{s}", 0)
        assert code == 200 and who
        home[f"s{s}"] = who
    victim = collections.Counter(home.values()).most_common(1)[0][0]
    idx = int(victim[1:])
    replicas[idx].stop()
    alive.discard(idx)
    killed_at = time.monotonic()

    results: dict[str, list[tuple[int, str | None]]] = collections.defaultdict(list)
    for turn in range(1, TURNS):
        for s in range(SESSIONS):
            results[f"s{s}"].append(_chat(port, f"s{s}", turn))
    elapsed = time.monotonic() - killed_at

    lost = sum(1 for seq in results.values() for code, _ in seq if code != 200)
    total = SESSIONS * (TURNS - 1)
    moved = [s for s, h in home.items() if h == victim]
    stayed = [s for s, h in home.items() if h != victim]
    # Each moved session settles on one surviving replica; each other session keeps its replica.
    moved_sticky = sum(1 for s in moved for _, w in results[s] if w == results[s][-1][1])
    kept = sum(1 for s in stayed for _, w in results[s] if w == home[s])
    print(f"\nfailover: killed {victim} ({len(moved)} of {SESSIONS} sessions); {total - lost}/{total} requests "
          f"succeeded in {elapsed:.1f}s after the kill ({lost} lost); moved sessions on one survivor "
          f"{moved_sticky}/{len(moved) * (TURNS - 1)}; other sessions kept their replica {kept}/"
          f"{len(stayed) * (TURNS - 1)}")
    assert lost == 0
    assert moved and all(w != victim for s in moved for _, w in results[s])
    assert kept == len(stayed) * (TURNS - 1)
    assert moved_sticky / (len(moved) * (TURNS - 1)) >= 0.95
    code, text = http("GET", f"http://127.0.0.1:{metrics}/metrics")
    assert code == 200 and f'vllm_router_worker_health{{worker="{replicas[idx].url}"}} 0' in text


def test_cache_aware_keeps_a_shared_prefix_on_one_replica_without_any_header(tmp_path: Path):
    """cache_aware keys on the prompt itself (the replicas' /tokenize, as real vLLM serves it): a conversation's
    later turns extend its first, so they follow it, with no session header at all."""
    replicas = [FakeReplica(f"r{i}").start() for i in range(3)]
    port, metrics = free_port(), free_port()
    spec = RouterSpec(policy=RouterPolicy.CACHE_AWARE, worker_urls=tuple(r.url for r in replicas), port=port,
                      metrics_port=metrics, host="127.0.0.1")
    try:
        with RouterProcess(render_router_args(spec), port, tmp_path / "router.log") as router:
            router.wait_ready(30)
            served: dict[str, list[str | None]] = collections.defaultdict(list)
            for turn in range(TURNS):
                for s in range(SESSIONS):
                    code, who = _chat(port, f"s{s}", turn, by_header=False)
                    assert code == 200
                    served[f"s{s}"].append(who)
            code, text = http("GET", f"http://127.0.0.1:{metrics}/metrics")
    finally:
        for r in replicas:
            r.stop()
    same = sum(1 for seq in served.values() for w in seq if w == seq[0])
    total = SESSIONS * TURNS
    hits = _counter(text, 'vllm_router_prefix_routing_decisions_total{policy="cache_aware",stage="regular",'
                          'outcome="prefix_hit"}')
    print(f"\nstickiness (cache_aware, no header): {same}/{total} = {same / total:.1%} on the conversation's first "
          f"replica; router prefix hits {hits:.0f} of {total - SESSIONS} follow-up turns; first replicas "
          f"{dict(collections.Counter(seq[0] for seq in served.values()))}")
    assert same / total >= 0.95
    assert hits >= 0.95 * (total - SESSIONS)
    # Each replica saw the prompt text only through the router's /tokenize and the completion itself.
    assert sum(len(r.served) for r in replicas) == total


def _counter(exposition: str, series: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_two_router_replicas_route_every_session_alike(tmp_path: Path):
    """The gateway's Service spreads requests over the router's replicas: each must build the same ring, even
    when it learns the replicas in another order (discovery events arrive in any order)."""
    replicas = [FakeReplica(f"r{i}").start() for i in range(3)]
    urls = [r.url for r in replicas]
    mappings = []
    try:
        for order in (urls, urls[::-1]):
            port, metrics = free_port(), free_port()
            spec = RouterSpec(worker_urls=tuple(order), port=port, metrics_port=metrics, host="127.0.0.1")
            with RouterProcess(render_router_args(spec), port, tmp_path / f"router-{len(mappings)}.log") as router:
                router.wait_ready(30)
                mappings.append({f"s{s}": _chat(port, f"s{s}", 0)[1] for s in range(SESSIONS)})
    finally:
        for r in replicas:
            r.stop()
    assert mappings[0] == mappings[1]
    assert len(set(mappings[0].values())) == 3
