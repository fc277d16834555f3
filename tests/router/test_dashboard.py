"""The Serving dashboard's router row reads only what the real router exports: every metric and label in its
queries is checked against the pinned vllm-router's /metrics after real traffic (cache_aware, so the prefix
decisions are recorded), and promtool parses each query."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml

from strait.render.dashboards import ROUTER_METRICS, DashboardSpec, dashboard_exprs, render_dashboards
from strait.render.router import RouterPolicy, RouterSpec, render_router_args
from tests.observability.promql_names import exposition_labels, exposition_names, metric_names
from tests.router.fakes import MODEL, FakeReplica, RouterProcess, free_port, http

#: Labels Prometheus adds at scrape time through the ServiceMonitor (target labels), not the exporter.
SCRAPE_LABELS = {"service", "namespace", "pod", "instance", "job", "endpoint", "container"}


def _router_exprs() -> list[str]:
    d = render_dashboards(DashboardSpec(routers=True))["strait-serving"]
    return [e for e in dashboard_exprs(d) if "vllm_router_" in e]


def test_the_router_row_is_opt_in():
    without = render_dashboards(DashboardSpec())["strait-serving"]
    assert not [e for e in dashboard_exprs(without) if "vllm_router_" in e]
    assert {n for e in _router_exprs() for n in metric_names(e)} == set(ROUTER_METRICS)


@pytest.fixture(scope="module")
def scrape(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("router")
    replicas = [FakeReplica(f"r{i}").start() for i in range(2)]
    port, metrics = free_port(), free_port()
    spec = RouterSpec(policy=RouterPolicy.CACHE_AWARE, worker_urls=tuple(r.url for r in replicas), port=port,
                      metrics_port=metrics, host="127.0.0.1")
    try:
        with RouterProcess(render_router_args(spec), port, tmp / "router.log") as router:
            router.wait_ready(30)
            for turn in range(3):
                msgs = [{"role": "user", "content": "the same conversation " + "more " * turn}]
                assert http("POST", f"http://127.0.0.1:{port}/v1/chat/completions",
                            {"model": MODEL, "messages": msgs})[0] == 200
            code, text = http("GET", f"http://127.0.0.1:{metrics}/metrics")
            assert code == 200
            return text
    finally:
        for r in replicas:
            r.stop()


def test_every_router_metric_and_label_is_exported(scrape):
    names = exposition_names(scrape)
    assert set(ROUTER_METRICS) <= names, sorted(set(ROUTER_METRICS) - names)
    labels = exposition_labels(scrape)
    for e in _router_exprs():
        for n in metric_names(e):
            used = {lbl.strip() for group in re.findall(r"by \(([^)]*)\)", e) for lbl in group.split(",")}
            used |= set(re.findall(r'([a-zA-Z_]\w*)=~?"', e))
            assert used - SCRAPE_LABELS <= labels.get(n, set()), (n, used, labels.get(n))
    assert 'outcome="prefix_hit"' in scrape  # the value the hit-rate panel selects


def test_promtool_parses_the_router_queries(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed (scripts/setup.sh installs it)")
    rules = [{"record": f"strait:router_check_{i}", "expr": e.replace("$__rate_interval", "5m")}
             for i, e in enumerate(_router_exprs())]
    f = tmp_path / "router.rules.yaml"
    f.write_text(yaml.safe_dump({"groups": [{"name": "router", "rules": rules}]}))
    proc = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
