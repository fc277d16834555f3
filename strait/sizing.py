"""Sizing: does a model fit a GPU, and how much KV cache is left?

A small model of vLLM's own memory profiling (vLLM V1, ``gpu_worker.determine_available_memory``):

    requested   = total_gpu_memory x gpu_memory_utilization
    available   = requested - weights_per_gpu - peak_activations - non_torch - cuda_graphs
    kv_tokens   = floor(available / bytes_per_token / block_size) x block_size

Bytes per token per GPU (what one GPU stores for one token of context):

    standard attention: 2 x layers/pp x max(1, kv_heads // tp) x head_dim x dtype_bytes
    MLA (DeepSeek V2/V3): layers/pp x (kv_lora_rank + qk_rope_head_dim) x dtype_bytes   (not x2, not / tp)

The overhead terms are estimates; ``tests/sizing`` checks the whole model against KV cache sizes
reported in public vLLM startup logs (``tests/data/kv_cache_cases.yaml``).

Pure module: no pulumi imports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from strait.catalog.schema import ModelArch

GIB = 1024**3

#: bytes per KV element for each ``--kv-cache-dtype``.
KV_DTYPE_BYTES = {"auto": 2, "bfloat16": 2, "float16": 2, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}

#: vLLM's default ``--block-size`` on CUDA.
DEFAULT_BLOCK_SIZE = 16
#: vLLM V1's default ``--max-num-batched-tokens`` for the OpenAI server; the profiling run uses it.
DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192

# Overhead estimates (GiB per GPU). Calibrated against tests/data/kv_cache_cases.yaml.
NON_TORCH_GIB = 0.35  # CUDA context, cuBLAS workspaces (torch does not see them)
NCCL_GIB_PER_TP = 0.15  # extra NCCL buffers when tensor/pipeline parallel > 1
CUDA_GRAPH_GIB = 0.4  # captured decode graphs (vLLM counts them since 0.11)
ACTIVATION_BYTES_PER_TOKEN_HIDDEN = 14  # peak activations ~ tokens x hidden x 14 bytes (bf16)


@dataclass(frozen=True)
class KvPlan:
    """What vLLM will find at start-up, per GPU."""

    total_gib: float
    requested_gib: float
    weights_gib: float
    activation_gib: float
    overhead_gib: float
    available_kv_gib: float
    bytes_per_token: int
    kv_tokens: int
    max_model_len: int
    max_concurrency: float

    @property
    def weights_fit(self) -> bool:
        return self.available_kv_gib > 0

    @property
    def one_sequence_fits(self) -> bool:
        """vLLM refuses to start unless one request of ``max_model_len`` fits in the KV cache."""
        return self.kv_tokens >= self.max_model_len


def kv_bytes_per_token(arch: ModelArch, tp: int = 1, pp: int = 1, kv_cache_dtype: str = "auto") -> int:
    """KV-cache bytes one GPU holds per token of context."""
    dtype_bytes = KV_DTYPE_BYTES[kv_cache_dtype]
    layers = math.ceil(arch.num_layers / pp)
    if arch.mla is not None:
        # MLA caches one compressed latent per token, replicated on every TP rank.
        return layers * (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * dtype_bytes
    kv_heads_per_gpu = max(1, arch.num_kv_heads // tp)
    return 2 * layers * kv_heads_per_gpu * arch.head_dim * dtype_bytes


def plan_kv(
    arch: ModelArch,
    weights_gib: float,
    gpu_memory_gib: float,
    *,
    gpu_memory_utilization: float = 0.9,
    tp: int = 1,
    pp: int = 1,
    kv_cache_dtype: str = "auto",
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_model_len: int | None = None,
    max_num_batched_tokens: int = DEFAULT_MAX_NUM_BATCHED_TOKENS,
) -> KvPlan:
    """Predict vLLM's KV cache for one model on one GPU type (per GPU; every rank gets the same)."""
    max_model_len = max_model_len or arch.native_context
    requested = gpu_memory_gib * gpu_memory_utilization
    weights = weights_gib / (tp * pp)
    activation = max_num_batched_tokens * arch.hidden_size * ACTIVATION_BYTES_PER_TOKEN_HIDDEN / tp / GIB
    overhead = NON_TORCH_GIB + CUDA_GRAPH_GIB + (NCCL_GIB_PER_TP if tp * pp > 1 else 0.0)
    available = requested - weights - activation - overhead
    bpt = kv_bytes_per_token(arch, tp, pp, kv_cache_dtype)
    blocks = max(0, math.floor(available * GIB / (bpt * block_size)))
    tokens = blocks * block_size
    return KvPlan(
        total_gib=gpu_memory_gib,
        requested_gib=requested,
        weights_gib=weights,
        activation_gib=activation,
        overhead_gib=overhead,
        available_kv_gib=available,
        bytes_per_token=bpt,
        kv_tokens=tokens,
        max_model_len=max_model_len,
        max_concurrency=tokens / max_model_len if max_model_len else 0.0,
    )
