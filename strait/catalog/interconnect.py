"""High-bandwidth node-to-node networking per instance type (``data/interconnect.yaml``), dated and sourced."""
from __future__ import annotations

import functools
from typing import Literal

import yaml
from pydantic import Field

from strait.catalog import DATA_DIR, SafeLoader
from strait.catalog.schema import Sourced

#: The extended resource the AWS EFA device plugin advertises (EKS user guide, device-management-efa).
EFA_RESOURCE = "vpc.amazonaws.com/efa"


class Interconnect(Sourced):
    kind: Literal["efa", "gpudirect-tcpx"]
    devices_per_node: int = Field(ge=1, description="EFA devices (or extra GPU NICs) one node has.")
    applied: bool = Field(description="True: Strait requests it on multi-node pods. False: documented only.")
    note: str


@functools.lru_cache(maxsize=1)
def load_interconnect() -> dict[str, Interconnect]:
    raw = yaml.load((DATA_DIR / "interconnect.yaml").read_text(), Loader=SafeLoader)["interconnect"]
    return {k: Interconnect(**v) for k, v in sorted(raw.items())}


def efa_pod_env() -> list[dict]:
    """libfabric/NCCL settings for EFA (what AWS's EKS EFA examples set): the EFA provider, GPUDirect RDMA."""
    return [{"name": "FI_PROVIDER", "value": "efa"}, {"name": "FI_EFA_USE_DEVICE_RDMA", "value": "1"},
            {"name": "NCCL_DEBUG", "value": "WARN"}]
