"""Gateway sizing from a measured figure: requests per second one LiteLLM worker serves.

The figure is a stale-able fact, so it lives in a dated data file
(``strait/catalog/data/gateway_capacity.yaml``) with the command that measured it
(``benchmarks/gateway.py --capacity``). A LiteLLM worker is one Python process on one core, so
a replica's capacity follows the CPU it may use: ``rps_per_worker`` per core, at most one core
per worker. The HPA keeps replicas at ``target_cpu_utilization_percent`` of their CPU request, so
each replica is sized to carry ``rps_per_worker x min(workers, cpu_request x target)`` at the
target, and the HPA's maximum covers ``peak_requests_per_second`` at that rate.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import yaml

from strait.catalog import DATA_DIR
from strait.config.sections import GatewayConfig, cpu_millicores

CAPACITY_FILE = DATA_DIR / "gateway_capacity.yaml"


@dataclass(frozen=True, kw_only=True)
class WorkerCapacity:
    requests_per_second: float
    litellm_version: str
    measured_on: dt.date
    source: str
    machine: str


@dataclass(frozen=True, kw_only=True)
class GatewayScaling:
    """How the gateway Deployment scales: an HPA (autoscaling/v2) between min and max replicas."""

    min_replicas: int
    max_replicas: int
    workers_per_replica: int
    """LiteLLM ``--num_workers``: one per whole CPU requested, at least 1."""
    target_cpu_utilization_percent: int
    requests_per_second_per_replica: float
    """What one replica carries at the target utilisation, from the measured figure."""


def load_worker_capacity() -> WorkerCapacity:
    with open(CAPACITY_FILE, encoding="utf-8") as fh:
        d = yaml.safe_load(fh)["litellm_worker"]
    return WorkerCapacity(requests_per_second=float(d["requests_per_second"]), litellm_version=str(d["litellm_version"]),
                          measured_on=d["measured_on"], source=d["source"], machine=d["machine"])


def workers_for(cpu_request: str) -> int:
    return max(1, math.floor(cpu_millicores(cpu_request) / 1000))


def gateway_scaling(gw: GatewayConfig, capacity: WorkerCapacity | None = None) -> GatewayScaling:
    capacity = capacity or load_worker_capacity()
    workers = workers_for(gw.cpu_request)
    cores_at_target = cpu_millicores(gw.cpu_request) / 1000 * gw.target_cpu_utilization_percent / 100
    per_replica = capacity.requests_per_second * min(workers, cores_at_target)
    sized = math.ceil(gw.peak_requests_per_second / per_replica)
    return GatewayScaling(min_replicas=gw.replicas, max_replicas=gw.max_replicas or max(gw.replicas, sized),
                          workers_per_replica=workers, target_cpu_utilization_percent=gw.target_cpu_utilization_percent,
                          requests_per_second_per_replica=round(per_replica, 1))
