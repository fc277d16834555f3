"""Gateway capacity: the HPA's bounds follow from the measured req/s per LiteLLM worker, and the HPA
and PDB of every stack's plan are judged by kubernetes-validate (strict) and Checkov."""
from __future__ import annotations

import datetime as dt
import json
import math
import shutil
import subprocess

import kubernetes_validate
import pytest

from strait.config.sections import GatewayConfig
from strait.gateway.capacity import WorkerCapacity, gateway_scaling, load_worker_capacity, workers_for
from tests.blueprints.test_plan_offline import kubernetes_version
from tests.conftest import ROOT, STACKS

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
TIERS = {"commercial": {"providers": [{"provider": "anthropic", "model": "claude-sonnet-4-5"}]}}


def cap(rps: float) -> WorkerCapacity:
    return WorkerCapacity(requests_per_second=rps, litellm_version="1.109.1", measured_on=dt.date(2026, 11, 30),
                          source="test", machine="test")


def test_the_measured_figure_is_dated_sourced_and_plausible():
    c = load_worker_capacity()
    assert c.source.startswith("benchmarks/gateway.py")
    assert isinstance(c.measured_on, dt.date) and c.litellm_version == "1.109.1"
    assert 20 <= c.requests_per_second <= 2000


@pytest.mark.parametrize("cpu, peak, target, rps, expect_workers, expect_max", [
    ("500m", 100, 70, 130, 1, 3),    # 0.35 core at the target: 45.5 req/s per replica -> ceil(100 / 45.5) = 3
    ("500m", 10, 70, 130, 1, 2),     # a small peak never goes below replicas (2)
    ("2", 1000, 50, 130, 2, 8),      # 2 workers, 1 core at 50 %: 130 req/s per replica -> ceil(1000 / 130) = 8
    ("1500m", 300, 100, 100, 1, 3),  # 1 worker caps a replica at one core whatever it requests
])
def test_replicas_and_workers_are_sized_from_the_measured_figure(cpu, peak, target, rps, expect_workers, expect_max):
    gw = GatewayConfig(tiers=TIERS, cpu_request=cpu, memory_request="1Gi", memory_limit="2Gi",
                       peak_requests_per_second=peak, target_cpu_utilization_percent=target)
    s = gateway_scaling(gw, cap(rps))
    assert (s.workers_per_replica, s.min_replicas, s.max_replicas) == (expect_workers, 2, expect_max)
    per_replica = rps * min(workers_for(cpu), int(cpu.rstrip("m")) / (1000 if cpu.endswith("m") else 1) * target / 100)
    assert s.max_replicas == max(2, math.ceil(peak / per_replica))


def test_an_explicit_maximum_wins():
    gw = GatewayConfig(tiers=TIERS, max_replicas=9)
    assert gateway_scaling(gw, cap(130)).max_replicas == 9


def _gateway_objects(planned, stack):
    return [(p, m) for p, m in planned[stack].manifests()
            if m["kind"] in ("HorizontalPodAutoscaler", "PodDisruptionBudget") and m["metadata"]["name"] == "litellm"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_gateway_hpa_and_pdb_validate_strictly(planned, stack):
    objs = _gateway_objects(planned, stack)
    assert sorted(m["kind"] for _, m in objs) == ["HorizontalPodAutoscaler", "PodDisruptionBudget"]
    for path, m in objs:
        kubernetes_validate.validate(m, f"{kubernetes_version(stack)}.0", strict=True)
    hpa = next(m for _, m in objs if m["kind"] == "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "litellm"}
    assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_checkov_passes_the_gateway_hpa_pdb_and_the_deployment_they_manage(planned, tmp_path):
    """Checkov 3.3.30 has no check for the HorizontalPodAutoscaler or PodDisruptionBudget kinds (alone they
    scan as 0 resources), so it runs on the whole gateway namespace: the HPA and PDB with the Deployment
    they scale and protect, and the NetworkPolicies its graph checks look for."""
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    objs = [(p, m) for p, m in planned["phase1-sg"].manifests() if m["metadata"].get("namespace") == "strait-gateway"]
    assert {"HorizontalPodAutoscaler", "PodDisruptionBudget", "Deployment"} <= {m["kind"] for _, m in objs}
    for path, _ in objs:
        shutil.copy(path, tmp_path / path.name)
    proc = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--config-file",
                           str(ROOT / ".checkov.yaml"), "--quiet", "--compact", "-o", "json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f"{r['check_id']} {r['resource']}: {r['check_name']}" for r in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 20
