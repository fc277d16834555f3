"""Preflight: ask the AWS account what the catalog can only estimate, before `pulumi up`.

- Is each instance type actually offered in the availability zones the network uses?
- Do the account's GPU vCPU quotas cover every pool at its maximum size?
- Is the weight-cache bucket name free (or already ours)?

This is the one part of Strait that calls AWS (boto3, the caller's credentials); components never do.
Tested against moto.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from strait.catalog import Catalog

#: EC2 vCPU quotas (Service Quotas codes) by instance family letter and capacity type.
VCPU_QUOTAS = {
    ("g", "on_demand"): ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    ("g", "spot"): ("L-3819A6DF", "All G and VT Spot Instance Requests"),
    ("p", "on_demand"): ("L-417A185B", "Running On-Demand P instances"),
    ("p", "spot"): ("L-7212CCBC", "All P Spot Instance Requests"),
    ("standard", "on_demand"): ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
}


@dataclass(frozen=True)
class Finding:
    level: str  # "ok" | "warning" | "error"
    check: str
    message: str


def _family(instance_type: str) -> str:
    letter = instance_type[0]
    return letter if letter in ("g", "p") else "standard"


def offered_zones(ec2: Any, instance_types: list[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {t: set() for t in instance_types}
    pages = ec2.get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone", Filters=[{"Name": "instance-type", "Values": sorted(instance_types)}])
    for page in pages:
        for o in page["InstanceTypeOfferings"]:
            out.setdefault(o["InstanceType"], set()).add(o["Location"])
    return out


def run_preflight(cfg: Any, cat: Catalog, session: Any, bucket_name: str) -> list[Finding]:
    """``cfg`` is a validated blueprint config; ``session`` a boto3 Session with credentials."""
    from botocore.exceptions import ClientError

    findings: list[Finding] = []
    region = cfg.region
    zones = list(cat.regions[region].zones[: cfg.network.availability_zones])
    ec2 = session.client("ec2", region_name=region)
    pools = {"system": ([cfg.cluster.system_instance_type], "on_demand", cfg.cluster.system_nodes + 1)}
    pools.update({name: (p.instance_types, p.capacity, p.max_size) for name, p in cfg.gpu_pools.items()})

    types = sorted({t for ts, _, _ in pools.values() for t in ts})
    where = offered_zones(ec2, types)
    for name, (ts, _, _) in sorted(pools.items()):
        for t in ts:
            got = sorted(where.get(t, set()) & set(zones))
            if not got:
                findings.append(Finding("error", "offered-in-zones", f"pool {name}: {t} is not offered in any of "
                                        f"{', '.join(zones)} (the account's EC2 offerings); pick another type or region"))
            elif len(got) < len(zones):
                missing = sorted(set(zones) - set(got))
                findings.append(Finding("warning", "offered-in-zones", f"pool {name}: {t} is offered in {', '.join(got)} "
                                        f"but not {', '.join(missing)}; nodes will only start in the former"))
            else:
                findings.append(Finding("ok", "offered-in-zones", f"pool {name}: {t} offered in {', '.join(got)}"))

    need: dict[tuple[str, str], int] = {}
    for _, (ts, capacity, max_size) in pools.items():
        vcpus = max(cat.instance_types[t].vcpu for t in ts)
        key = (_family(ts[0]), capacity)
        need[key] = need.get(key, 0) + vcpus * max_size
    sq = session.client("service-quotas", region_name=region)
    for key, vcpus in sorted(need.items()):
        code, label = VCPU_QUOTAS.get(key, (None, None))
        if code is None:
            continue
        try:
            value = sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except ClientError as exc:
            findings.append(Finding("warning", "vcpu-quota", f"could not read quota {code} ({label}): "
                                    f"{exc.response['Error']['Code']}; check it holds {vcpus} vCPUs"))
            continue
        level = "ok" if value >= vcpus else "error"
        msg = f"quota {code} ({label}) is {value:g} vCPUs; the pools need {vcpus} at max size"
        if level == "error":
            msg += "; request an increase in the Service Quotas console before `pulumi up`"
        findings.append(Finding(level, "vcpu-quota", msg))

    s3 = session.client("s3", region_name=region)
    try:
        s3.head_bucket(Bucket=bucket_name)
        findings.append(Finding("ok", "bucket-name", f"bucket {bucket_name} exists and this account can read it"))
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket", "NotFound"):
            findings.append(Finding("ok", "bucket-name", f"bucket name {bucket_name} is free"))
        elif code in ("403", "AccessDenied", "Forbidden"):
            findings.append(Finding("error", "bucket-name", f"bucket {bucket_name} belongs to another account; "
                                    "change the stack name or project"))
        else:
            findings.append(Finding("warning", "bucket-name", f"could not check bucket {bucket_name}: {code}"))
    return findings


def render(findings: list[Finding]) -> str:
    mark = {"ok": "ok  ", "warning": "WARN", "error": "FAIL"}
    return "\n".join(f"[{mark[f.level]}] {f.check}: {f.message}" for f in findings)
