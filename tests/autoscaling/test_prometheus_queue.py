"""The queue trigger's query, evaluated by a real Prometheus (Debian's binary) scraping fake model servers on
loopback, read the way KEDA's prometheus scaler reads it; and checked by promtool.

The fakes expose the engines' own gauges with their real label sets: vLLM 0.33's
``vllm:num_requests_waiting{engine, model_name}``, and SGLang 0.5.23's ``sglang:num_queue_reqs`` with priority
scheduling on (the total under ``priority=""``, a per-priority breakdown beside it) and off (no priority label).
Each scrape job carries the ``namespace`` label the Prometheus Operator gives every ServiceMonitor target.
Distractors: the same model name in another namespace, another model in the same namespace.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from components.k8s.keda import BusinessHours, QueueAutoscalerArgs, scaling_spec
from strait.render.keda import render_scaled_object, replicas_wanted
from tests.observability.fakes import _Server, free_port

DEADLINE_SECONDS = 60
NS = "strait-serving"


class FakeMetrics(_Server):
    """A /metrics page whose gauge lines the test sets."""

    def __init__(self, metric: str, help_text: str):
        super().__init__()
        self.metric, self.help = metric, help_text
        self.samples: dict[str, float] = {}  # label text -> value

    def handle(self, h, method):
        lines = [f"# HELP {self.metric} {self.help}", f"# TYPE {self.metric} gauge"]
        lines += [f"{self.metric}{{{labels}}} {value}" for labels, value in sorted(self.samples.items())]
        self.reply(h, 200, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")


def vllm(model: str, waiting: float) -> dict[str, float]:
    return {f'engine="0",model_name="{model}"': waiting}


def sglang(model: str, total: float, by_priority: dict[int, float] | None = None) -> dict[str, float]:
    base = f'engine_type="unified",model_name="{model}",moe_ep_rank="0",pp_rank="0",tp_rank="0"'
    if by_priority is None:
        return {base: total}
    out = {base + ',priority=""': total}
    out.update({base + f',priority="{p}"': v for p, v in by_priority.items()})
    return out


def scaled_object(engine: str, model: str, prom: str) -> dict:
    args = QueueAutoscalerArgs(namespace=NS, deployment=model, engine=engine, served_model_name=model,
                               prometheus_address=prom, max_replicas=8, queue_per_replica=4, cold_start_seconds=540,
                               business_hours=BusinessHours(timezone="Asia/Jakarta"))
    return render_scaled_object(scaling_spec(model, args))


def kedas_read(server: str, query: str) -> float:
    """What KEDA 2.21's prometheus scaler does with the trigger (pkg/scalers/prometheus_scaler.go,
    ExecutePromQuery): GET /api/v1/query with the query and an RFC 3339 time; no series is an error when
    ignoreNullValues is false (ours), more than one is an error, else the value."""
    t = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    url = f"{server}/api/v1/query?query={urllib.parse.quote_plus(query)}&time={t}"
    with urllib.request.urlopen(url, timeout=5) as r:
        result = json.loads(r.read())["data"]["result"]
    if not result:
        raise LookupError("the result is empty")
    if len(result) > 1:
        raise ValueError(f"prometheus query {query} returned multiple elements")
    return float(result[0]["value"][1])


def _wait(predicate, what: str, deadline: float):
    while True:
        try:
            if predicate():
                return
        except (urllib.error.URLError, ConnectionError, LookupError):
            pass
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.fixture()
def prometheus(prometheus_bin, tmp_path):
    """Start Prometheus over the given targets: job -> (address, namespace label)."""
    procs = []

    def start(targets: dict[str, tuple[str, str]]) -> str:
        port = free_port()
        cfg = {"global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
               "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [addr], "labels": {"namespace": ns}}]}
                                  for job, (addr, ns) in sorted(targets.items())]}
        path = tmp_path / "prometheus.yml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        check = subprocess.run(["promtool", "check", "config", str(path)], capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        log = open(tmp_path / "prometheus.log", "w")
        procs.append((subprocess.Popen([prometheus_bin, f"--config.file={path}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                        f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT), log))
        return f"http://127.0.0.1:{port}"

    yield start
    for proc, log in procs:
        proc.terminate()
        proc.wait(15)
        log.close()


def test_promtool_accepts_every_rendered_query(promtool, tmp_path):
    queries = {e: scaled_object(e, "Qwen/Qwen2.5-7B-Instruct", "http://p:9090")["spec"]["triggers"][0]["metadata"]["query"]
               for e in ("vllm", "sglang")}
    rules = {"groups": [{"name": "keda", "rules": [{"record": f"strait:keda_queue:{e}", "expr": q}
                                                   for e, q in sorted(queries.items())]}]}
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(rules))
    ok = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "SUCCESS: 2 rules found" in ok.stdout, ok.stdout + ok.stderr
    # and promtool does parse the expression: a broken one fails
    rules["groups"][0]["rules"][0]["expr"] = queries["vllm"].replace("})", "}")
    path.write_text(yaml.safe_dump(rules))
    bad = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0


def test_real_prometheus_returns_the_total_queue_keda_divides_per_replica(prometheus, promtool):
    deadline = time.monotonic() + DEADLINE_SECONDS
    v = "vllm:num_requests_waiting", "Number of requests waiting to be processed."
    s = "sglang:num_queue_reqs", "The number of requests in the waiting queue."
    with FakeMetrics(*v) as qa, FakeMetrics(*v) as qb, FakeMetrics(*v) as elsewhere, FakeMetrics(*v) as other_model, \
            FakeMetrics(*s) as sa, FakeMetrics(*s) as sb:
        qa.samples, qb.samples = vllm("qwen7b", 7), vllm("qwen7b", 5)
        elsewhere.samples = vllm("qwen7b", 100)  # same name, another namespace
        other_model.samples = vllm("llama8b", 50)
        sa.samples = sglang("r1", 9, {0: 4, 1: 5})  # priority scheduling on: the total and its breakdown
        sb.samples = sglang("r1", 3)  # priority scheduling off
        local = lambda srv: (f"127.0.0.1:{srv.port}", NS)  # noqa: E731
        server = prometheus({"qwen7b-a": local(qa), "qwen7b-b": local(qb), "elsewhere": (f"127.0.0.1:{elsewhere.port}", "team-x"),
                             "llama8b": local(other_model), "r1-a": local(sa), "r1-b": local(sb)})
        so_vllm, so_sglang = scaled_object("vllm", "qwen7b", server), scaled_object("sglang", "r1", server)
        q_vllm = so_vllm["spec"]["triggers"][0]["metadata"]["query"]
        q_sglang = so_sglang["spec"]["triggers"][0]["metadata"]["query"]
        assert so_vllm["spec"]["triggers"][0]["metadata"]["serverAddress"] == server

        _wait(lambda: kedas_read(server, q_vllm) == 12 and kedas_read(server, q_sglang) == 12, "the first scrapes", deadline)
        assert kedas_read(server, q_vllm) == 7 + 5  # both replicas, nothing from team-x or llama8b
        assert kedas_read(server, q_sglang) == 9 + 3  # totals only: the priority breakdown is not added again
        # promtool evaluates the same query against the same server.
        out = subprocess.run([promtool, "query", "instant", server, q_vllm], capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and re.fullmatch(r"\{\} => 12 @\[[0-9.]+\]", out.stdout.strip()), out.stdout

        # KEDA hands the total to the HPA as an AverageValue target of 4 per replica: ceil(12 / 4) = 3 replicas.
        spec = scaling_spec("qwen7b", QueueAutoscalerArgs(
            namespace=NS, deployment="qwen7b", engine="vllm", served_model_name="qwen7b", prometheus_address=server,
            max_replicas=8, queue_per_replica=4, cold_start_seconds=540))
        assert replicas_wanted(kedas_read(server, q_vllm), spec, in_window=False) == 3
        # Why sum and not avg: avg returns the per-replica queue (6), which the HPA would divide by the replica
        # count again and so ask for ceil(6 / 4) = 2 replicas while 12 requests wait.
        assert kedas_read(server, q_vllm.replace("sum(", "avg(", 1)) == 6
        assert replicas_wanted(6, spec, in_window=False) == 2

        # The queue drains on one replica and grows on the other: the sum follows.
        qa.samples, qb.samples = vllm("qwen7b", 0), vllm("qwen7b", 30)
        _wait(lambda: kedas_read(server, q_vllm) == 30, "the queue to move", deadline)
        assert replicas_wanted(30, spec, in_window=False) == 8  # ceil(30/4) = 8, the maximum
        qb.samples = vllm("qwen7b", 0)
        _wait(lambda: kedas_read(server, q_vllm) == 0, "the queue to drain", deadline)
        assert replicas_wanted(0, spec, in_window=False) == 1  # the warm standby

        # A model no replica reports yet: no series, which KEDA (ignoreNullValues false) treats as an error,
        # so the ScaledObject's fallback holds the replicas instead of reading "queue 0".
        with pytest.raises(LookupError):
            kedas_read(server, scaled_object("vllm", "not-deployed", server)["spec"]["triggers"][0]["metadata"]["query"])
