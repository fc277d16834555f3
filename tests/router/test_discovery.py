"""The router's Kubernetes discovery, as Strait renders it, against a fake API server on loopback.

The rendered argv (namespace + selector) makes the real router watch pods in one namespace only (so the Role the
component grants, get/list/watch pods there, suffices: nothing cluster-wide is asked for), add exactly the ready
pods that carry the model server's labels, follow a scale-out (a new pod turning ready) and a scale-in (a pod
being deleted), and keep serving through both."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from strait.render.router import SESSION_HEADER, Discovery, RouterSpec, render_router_args
from tests.router.fake_kube import FakeKubeApi, pod
from tests.router.fakes import MODEL, FakeReplica, RouterProcess, free_port, http

NS = "strait-serving"
SEL = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "qwen7b"}
OTHER = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "another-model"}


def _workers(metrics_port: int) -> set[str]:
    code, text = http("GET", f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    out = set()
    for line in text.splitlines() if code == 200 else []:
        if line.startswith("vllm_router_worker_health{") and line.endswith(" 1"):
            out.add(line.split('worker="', 1)[1].split('"', 1)[0])
    return out


def _wait_for(pred, what: str, timeout_seconds: float = 30.0):
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def _active(metrics_port: int) -> int:
    code, text = http("GET", f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
    for line in text.splitlines() if code == 200 else []:
        if line.startswith("vllm_router_active_workers "):
            return int(float(line.split()[1]))
    return -1


def _served_by(port: int, sessions: range) -> dict[str, str]:
    out = {}
    for s in sessions:
        code, text = http("POST", f"http://127.0.0.1:{port}/v1/chat/completions",
                          {"model": MODEL, "messages": [{"role": "user", "content": f"hello {s}"}]},
                          {SESSION_HEADER: f"s{s}"}, timeout=30)
        assert code == 200, text
        out[f"s{s}"] = text.split("served-by:")[1].split('"')[0]
    return out


@pytest.fixture
def world(tmp_path: Path):
    port = free_port()  # every discovered pod serves on this port, each at its own loopback address
    replicas = {n: FakeReplica(n, port=port, host=ip).start() for n, ip in
                (("a", "127.0.0.2"), ("b", "127.0.0.3"), ("c", "127.0.0.4"), ("other", "127.0.0.5"))}
    api = FakeKubeApi(NS).start()
    yield api, replicas, port
    api.stop()
    for r in replicas.values():
        try:
            r.stop()
        except OSError:
            pass


def test_discovery_follows_the_model_servers_pods_in_one_namespace(world, tmp_path):
    api, replicas, worker_port = world
    api.put(pod("qwen7b-a", "127.0.0.2", SEL), "ADDED")
    api.put(pod("qwen7b-b", "127.0.0.3", SEL), "ADDED")
    api.put(pod("qwen7b-c", "127.0.0.4", SEL, ready=False), "ADDED")  # still loading weights
    api.put(pod("another-model-x", "127.0.0.5", OTHER), "ADDED")       # same namespace, another model
    port, metrics = free_port(), free_port()
    spec = RouterSpec(discovery=Discovery(namespace=NS, selector=SEL, port=worker_port), port=port,
                      metrics_port=metrics, host="127.0.0.1", health_check_interval_seconds=1,
                      health_failure_threshold=1)
    env = {"KUBECONFIG": str(api.kubeconfig(tmp_path))}
    with RouterProcess(render_router_args(spec), port, tmp_path / "router.log", env=env) as router:
        router.wait_ready(30)
        url = lambda ip: f"http://{ip}:{worker_port}"  # noqa: E731
        _wait_for(lambda: _workers(metrics) == {url("127.0.0.2"), url("127.0.0.3")} and _active(metrics) == 2,
                  "the two ready pods")
        _wait_for(lambda: http("GET", f"http://127.0.0.1:{port}/readiness")[0] == 200, "router readiness")
        before = _served_by(port, range(30))
        assert set(before.values()) == {"a", "b"}

        # Scale out: the third pod turns ready; the router adds it and new sessions reach it.
        api.put(pod("qwen7b-c", "127.0.0.4", SEL))
        _wait_for(lambda: url("127.0.0.4") in _workers(metrics) and _active(metrics) == 3, "the scaled-out pod")
        after_out = _served_by(port, range(30, 90))
        assert "c" in after_out.values() and "other" not in after_out.values()
        # Consistent hashing: a session either stays or moves to the new pod, never between the old ones.
        again = _served_by(port, range(30))
        assert all(w in (before[s], "c") for s, w in again.items())
        stayed_out = sum(1 for s, w in again.items() if w == before[s])

        # Scale in: a pod is being deleted; the router drops it and every request still succeeds.
        api.put(pod("qwen7b-a", "127.0.0.2", SEL, deleting=True))
        _wait_for(lambda: _active(metrics) == 2, "the deleted pod to leave")
        after_in = _served_by(port, range(90))
        assert set(after_in.values()) <= {"b", "c"}
        # Only the deleted pod's sessions move; the survivors keep theirs.
        moved = [s for s, w in again.items() if w == "a"]
        assert all(after_in[s] == w for s, w in again.items() if w != "a")
        print(f"\ndiscovery: 2 ready pods found of 4 in {NS}; scale-out adds the third ({stayed_out}/30 sessions "
              f"stay, the rest move to the new pod only); scale-in moves only the deleted pod's {len(moved)} "
              f"sessions, the other {30 - len(moved)} keep their pod")

    assert replicas["other"].served == []
    # Only reads of pods in the one namespace: what the component's Role grants, nothing cluster-wide.
    assert {(m, p) for m, p in api.requests} == {("GET", f"/api/v1/namespaces/{NS}/pods")}
