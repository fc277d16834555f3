"""GKE vocabulary shared by the GCP components and the GCP preflight (pure data, no pulumi, no Google SDK)."""
from __future__ import annotations

from typing import Mapping

#: Catalog GPU key -> GKE accelerator type (the ``cloud.google.com/gke-accelerator`` node label value and
#: the Compute Engine acceleratorTypes name).
ACCELERATOR_TYPES: Mapping[str, str] = {
    "T4": "nvidia-tesla-t4",
    "L4": "nvidia-l4",
    "A100-40GB": "nvidia-tesla-a100",
    "A100-80GB": "nvidia-a100-80gb",
    "H100-80GB": "nvidia-h100-80gb",
}

#: GKE accelerator type -> Compute Engine regional quota metric (on demand; Spot uses PREEMPTIBLE_<metric>).
GPU_QUOTA_METRICS: Mapping[str, str] = {
    "nvidia-tesla-t4": "NVIDIA_T4_GPUS",
    "nvidia-l4": "NVIDIA_L4_GPUS",
    "nvidia-tesla-a100": "NVIDIA_A100_GPUS",
    "nvidia-a100-80gb": "NVIDIA_A100_80GB_GPUS",
    "nvidia-h100-80gb": "NVIDIA_H100_GPUS",
}
