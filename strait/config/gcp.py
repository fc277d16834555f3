"""The `gcp:` section of a stack, and the checks that only apply when `cloud: gcp`. Pure pydantic.

Only what really differs from AWS lives here: the project, the cluster's release channel and
control-plane range, and the VPC-native ranges (GKE needs separate pod and service ranges). Machine
types, zones and GPU counts stay in the shared sections (`gpu_pools.*.instance_types` holds one GCP
machine type; its zones come from the catalog) and are checked against the catalog here.
"""
from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from strait.catalog import Catalog
from strait.config.errors import ConfigIssue
from strait.config.sections import StrictModel

PROJECT_PATTERN = r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$"


def _private_cidr(v: str) -> str:
    try:
        net = ipaddress.ip_network(v)
    except ValueError:
        raise ValueError("not a CIDR block || write it like 10.48.0.0/14") from None
    if net.version != 4 or not net.is_private:
        raise ValueError("must be a private IPv4 range || use RFC 1918 space such as 10.48.0.0/14")
    return v


class GcpConfig(StrictModel):
    """Google Cloud settings. Required when `cloud: gcp`; an error when `cloud: aws`."""

    project: str = Field(pattern=PROJECT_PATTERN, description="GCP project id the stack deploys into (6-30 "
                         "characters: lower-case letters, digits, '-').")
    release_channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"] = Field(
        "REGULAR", description="GKE release channel; it picks and upgrades the patch of cluster.kubernetes_version. "
        "Default: REGULAR.")
    nodes_cidr: str = Field("10.40.0.0/20", description="Subnet primary range (node IPs). Default: 10.40.0.0/20.")
    pods_cidr: str = Field("10.48.0.0/14", description="Secondary range for pod IPs (VPC-native). Default: a /14.")
    services_cidr: str = Field("10.52.0.0/20", description="Secondary range for Services. Default: 10.52.0.0/20.")
    master_cidr: str = Field("172.16.0.0/28", description="The control plane's private /28. Default: 172.16.0.0/28.")
    deletion_protection: bool = Field(True, description="GKE refuses to delete the cluster until this is turned off. "
                                      "Default: on.")
    spot_fallback: bool = Field(False, description="Group each GPU model's spot and on-demand pools in a GKE "
                                "ComputeClass that prefers spot (docs/gke.md). Only pods that select the class use it. "
                                "Default: off.")

    @field_validator("nodes_cidr", "pods_cidr", "services_cidr", "master_cidr")
    @classmethod
    def _cidrs(cls, v: str) -> str:
        return _private_cidr(v)

    @field_validator("master_cidr")
    @classmethod
    def _master(cls, v: str) -> str:
        if ipaddress.ip_network(v).prefixlen != 28:
            raise ValueError("GKE's control plane needs a /28 || use a free /28 such as 172.16.0.0/28")
        return v


def check_gcp(cfg, cat: Catalog) -> list[ConfigIssue]:
    """Cross-checks for `cloud: gcp` (and that AWS-only settings were not set). Every issue, not the first."""
    issues: list[ConfigIssue] = []
    add = issues.append
    gcp = getattr(cfg, "gcp", None)
    if cfg.cloud != "gcp":
        if gcp is not None:
            add(ConfigIssue("gcp", {"project": gcp.project}, "is only used with cloud: gcp",
                            "remove the gcp section, or set cloud: gcp and a GCP region"))
        return issues
    if gcp is None:
        add(ConfigIssue("gcp", None, "cloud: gcp needs a gcp section (at least the project)",
                        "add `strait:gcp: {project: <your-project-id>}`"))
    else:
        nets = {k: ipaddress.ip_network(getattr(gcp, k)) for k in ("nodes_cidr", "pods_cidr", "services_cidr", "master_cidr")}
        keys = sorted(nets)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if nets[a].overlaps(nets[b]):
                    add(ConfigIssue(f"gcp.{b}", getattr(gcp, b), f"overlaps gcp.{a} ({getattr(gcp, a)})",
                                    "give each range its own block"))
    if "nat_gateways" in cfg.network.model_fields_set and cfg.network.nat_gateways != "single":
        add(ConfigIssue("network.nat_gateways", cfg.network.nat_gateways, "is an AWS setting: Cloud NAT is regional "
                        "and survives a zone loss", "remove it"))
    if "cidr" in cfg.network.model_fields_set:
        add(ConfigIssue("network.cidr", cfg.network.cidr, "is the AWS VPC range; GKE takes three ranges",
                        "remove it and set gcp.nodes_cidr, gcp.pods_cidr and gcp.services_cidr if the defaults clash"))
    region = cat.regions.get(cfg.region)
    for pname, pool in sorted(cfg.gpu_pools.items()):
        path = f"gpu_pools.{pname}"
        if "ami" in pool.model_fields_set:
            add(ConfigIssue(f"{path}.ami", pool.ami, "is an EKS setting; GKE nodes run Container-Optimized OS with the "
                            "driver GKE installs", "remove it"))
        if len(pool.instance_types) > 1:
            add(ConfigIssue(f"{path}.instance_types", pool.instance_types, "a GKE node pool has exactly one machine type",
                            "keep one, or make one pool per machine type"))
        if region is None or region.cloud != "gcp":
            continue
        for i, t in enumerate(pool.instance_types):
            offer = cat.offer(t, cfg.region)
            if offer is None:
                continue  # check_platform already reported an unknown or unoffered type
            zones = [z for z in (offer.price.zones or ()) if z in region.zones]
            if not zones:
                add(ConfigIssue(f"{path}.instance_types[{i}]", t, f"the catalog lists no zone of {cfg.region} offering it",
                                "pick a machine type with zones in the catalog, or add them to instances_gcp.yaml"))
    return issues
