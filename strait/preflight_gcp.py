"""Preflight on GCP: ask the project what the catalog can only estimate, before `pulumi up`.

- Is each GPU pool's accelerator offered in the zones the pool uses (Compute API acceleratorTypes)?
- Is the machine type offered there (machineTypes.get)?
- Do the region's GPU quotas (per GPU family, on-demand or PREEMPTIBLE_ for Spot) and the project's
  GPUS_ALL_REGIONS quota cover every pool at its maximum size?
- Is the weight-cache bucket name free (or already ours)?

Uses Google's own client libraries (google-cloud-compute, google-cloud-storage) with Application
Default Credentials; components never call Google. Tests serve recorded REST responses on loopback.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from strait.catalog import Catalog
from strait.gke import ACCELERATOR_TYPES, GPU_QUOTA_METRICS
from strait.preflight import Finding

GLOBAL_GPU_QUOTA = "GPUS_ALL_REGIONS"


@dataclass(frozen=True, kw_only=True)
class GcpPoolCheck:
    machine_type: str
    accelerator: str
    """GKE accelerator type (nvidia-l4 ...)."""
    gpus_per_node: int
    capacity: str
    max_nodes: int
    zones: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class GcpPreflightSpec:
    project: str
    region: str
    pools: Mapping[str, GcpPoolCheck]
    bucket_name: str


@dataclass
class GcpClients:
    """Google's clients, built once; tests point them at a local server."""

    accelerator_types: Any
    machine_types: Any
    regions: Any
    projects: Any
    storage: Any
    extra: dict = field(default_factory=dict)


def default_clients(client_options: dict | None = None, credentials: Any = None) -> GcpClients:
    from google.cloud import compute_v1, storage

    kw = {"transport": "rest", "client_options": client_options, "credentials": credentials}
    return GcpClients(
        accelerator_types=compute_v1.AcceleratorTypesClient(**kw),
        machine_types=compute_v1.MachineTypesClient(**kw),
        regions=compute_v1.RegionsClient(**kw),
        projects=compute_v1.ProjectsClient(**kw),
        storage=storage.Client(project="-" if credentials is not None else None, credentials=credentials,
                               client_options=client_options),
    )


def spec_from_config(cfg: Any, cat: Catalog, bucket_name: str) -> GcpPreflightSpec:
    """What to ask Google about a validated `cloud: gcp` stack: each pool's machine type and accelerator in the
    zones the catalog lists for it, at the pool's maximum size."""
    pools = {}
    for name, p in sorted(cfg.gpu_pools.items()):
        mt = p.instance_types[0]
        it, offer = cat.instance_types[mt], cat.offer(mt, cfg.region)
        pools[name] = GcpPoolCheck(machine_type=mt, accelerator=ACCELERATOR_TYPES[it.gpu], gpus_per_node=it.gpu_count,
                                   capacity=p.capacity, max_nodes=p.max_size,
                                   zones=tuple(offer.price.zones or cat.regions[cfg.region].zones))
    return GcpPreflightSpec(project=cfg.gcp.project, region=cfg.region, pools=pools, bucket_name=bucket_name)


def _quota_metric(accelerator: str, capacity: str) -> str | None:
    metric = GPU_QUOTA_METRICS.get(accelerator)
    if metric is None:
        return None
    return f"PREEMPTIBLE_{metric}" if capacity == "spot" else metric


def run_preflight_gcp(spec: GcpPreflightSpec, clients: GcpClients | Callable[[], GcpClients] = default_clients) -> list[Finding]:
    from google.api_core import exceptions as gexc

    c = clients() if callable(clients) else clients
    findings: list[Finding] = []
    project = spec.project

    offered: dict[str, set[str]] = {}
    for zone in sorted({z for p in spec.pools.values() for z in p.zones}):
        try:
            offered[zone] = {a.name for a in c.accelerator_types.list(project=project, zone=zone)}
        except gexc.GoogleAPICallError as exc:
            findings.append(Finding("warning", "accelerator-in-zones", f"could not list accelerator types in {zone}: "
                                    f"{exc.code.name if exc.code else exc}; check the zone offers the pool's GPU"))
    for name, p in sorted(spec.pools.items()):
        checked = [z for z in p.zones if z in offered]
        have = [z for z in checked if p.accelerator in offered[z]]
        if checked and not have:
            findings.append(Finding("error", "accelerator-in-zones", f"pool {name}: {p.accelerator} is not offered in any "
                                    f"of {', '.join(p.zones)}; pick another machine type or region"))
        elif len(have) < len(checked):
            missing = sorted(set(checked) - set(have))
            findings.append(Finding("warning", "accelerator-in-zones", f"pool {name}: {p.accelerator} is offered in "
                                    f"{', '.join(have)} but not {', '.join(missing)}; remove those zones from the pool"))
        elif have:
            findings.append(Finding("ok", "accelerator-in-zones", f"pool {name}: {p.accelerator} offered in {', '.join(have)}"))
        for zone in have:
            try:
                c.machine_types.get(project=project, zone=zone, machine_type=p.machine_type)
            except gexc.NotFound:
                findings.append(Finding("error", "machine-type-in-zones", f"pool {name}: {p.machine_type} does not exist "
                                        f"in {zone}; remove the zone or pick another type"))

    need: dict[str, int] = {}
    total = 0
    for p in spec.pools.values():
        metric = _quota_metric(p.accelerator, p.capacity)
        if metric:
            need[metric] = need.get(metric, 0) + p.gpus_per_node * p.max_nodes
        total += p.gpus_per_node * p.max_nodes
    try:
        quotas = {q.metric: q for q in c.regions.get(project=project, region=spec.region).quotas}
    except gexc.GoogleAPICallError as exc:
        quotas = None
        findings.append(Finding("warning", "gpu-quota", f"could not read {spec.region}'s quotas: "
                                f"{exc.code.name if exc.code else exc}; check {', '.join(sorted(need))} by hand"))
    if quotas is not None:
        for metric, gpus in sorted(need.items()):
            q = quotas.get(metric)
            if q is None:
                findings.append(Finding("error", "gpu-quota", f"{spec.region} has no {metric} quota in this project; "
                                        f"the pools need {gpus} GPUs: request it in IAM & Admin > Quotas"))
                continue
            free = q.limit - q.usage
            level = "ok" if free >= gpus else "error"
            msg = f"{metric} in {spec.region}: limit {q.limit:g}, in use {q.usage:g}; the pools need {gpus} at max size"
            if level == "error":
                msg += "; request an increase before `pulumi up`"
            findings.append(Finding(level, "gpu-quota", msg))
    try:
        gq = {q.metric: q for q in c.projects.get(project=project).quotas}.get(GLOBAL_GPU_QUOTA)
        if gq is not None:
            ok = gq.limit - gq.usage >= total
            findings.append(Finding("ok" if ok else "error", "gpu-quota",
                                    f"{GLOBAL_GPU_QUOTA}: limit {gq.limit:g}, in use {gq.usage:g}; the pools need {total}"
                                    + ("" if ok else "; request an increase before `pulumi up`")))
    except gexc.GoogleAPICallError as exc:
        findings.append(Finding("warning", "gpu-quota", f"could not read {GLOBAL_GPU_QUOTA}: "
                                f"{exc.code.name if exc.code else exc}"))

    try:
        c.storage.get_bucket(spec.bucket_name)
        findings.append(Finding("ok", "bucket-name", f"bucket {spec.bucket_name} exists and this project can read it"))
    except gexc.NotFound:
        findings.append(Finding("ok", "bucket-name", f"bucket name {spec.bucket_name} is free"))
    except gexc.Forbidden:
        findings.append(Finding("error", "bucket-name", f"bucket {spec.bucket_name} belongs to someone else; "
                                "change the stack name or project"))
    return findings
