"""GPU node labels and taint: the one definition every cloud and every Kubernetes component uses.

Pure data (no pulumi, no cloud SDK). A cloud's GPU node pool puts these labels and the taint on its
nodes; model servers select and tolerate them; policies and the cost report read them back.
"""
from __future__ import annotations

#: The taint every GPU pool carries (GKE puts ``nvidia.com/gpu=present:NoSchedule`` on GPU pools itself;
#: EKS pools get it from Strait). Pods tolerate the key with ``operator: Exists``, whatever the value.
GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_RESOURCE = "nvidia.com/gpu"
POOL_LABEL = "strait.dev/pool"
GPU_LABEL = "strait.dev/gpu"
CAPACITY_LABEL = "strait.dev/capacity"
DEVICE_PLUGIN_LABEL = "strait.dev/nvidia-device-plugin"
MODEL_LABEL = "strait.dev/model"
SYSTEM_POOL = "system"

GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}

CAPACITIES = ("spot", "on_demand")


def pool_labels(pool: str, gpu_model: str, capacity: str, *, device_plugin: bool = False) -> dict[str, str]:
    """Node labels of a GPU pool. ``device_plugin`` marks nodes where Strait must run NVIDIA's device plugin."""
    if capacity not in CAPACITIES:
        raise ValueError(f"capacity must be one of {CAPACITIES}, got {capacity!r}")
    labels = {POOL_LABEL: pool, GPU_LABEL: gpu_model, CAPACITY_LABEL: capacity}
    if device_plugin:
        labels[DEVICE_PLUGIN_LABEL] = "true"
    return labels
