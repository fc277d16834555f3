"""Sizing: does a model fit a GPU, how much KV cache is left, and how fast does it decode?

A small model of vLLM's own memory profiling (V1: ``gpu_worker.determine_available_memory``)::

    requested   = total_gpu_memory x gpu_memory_utilization
    available   = requested - weights_on_rank - peak_activations - non_torch - parallel_buffers - cuda_graphs
    kv_tokens   = floor(available / bytes_per_token / block_size) x block_size     (min over pipeline stages)

Bytes per token on one GPU (what one rank stores for one token of context)::

    standard attention: 2 x layers_on_stage x max(1, kv_heads // tp) x head_dim x kv_dtype_bytes
    MLA (DeepSeek V2/V3): layers_on_stage x (kv_lora_rank + qk_rope_head_dim) x kv_dtype_bytes  (not x2, not / tp)

Pipeline stages get an uneven layer split like vLLM's ``get_pp_indices`` (the extra layers go to the
stages before the last: 27 layers over 2 stages -> 14 + 13); the first stage also holds the
embedding and the last the LM head and the sampler. vLLM sizes the pool by the worst rank, so the
token count is the minimum over stages.

Where each overhead term comes from (all per GPU):

* peak activations, V1: ``max_num_batched_tokens x hidden x 12.8 B`` for the profiling forward pass,
  plus ``max_num_seqs x vocab x 12.1 B`` for the dummy sampler run (fp32 logits and their
  copies; last pipeline stage only). The two constants come from the llm-d v0.19 H100 logs in
  tests/data/kv_cache_cases.yaml (CodeLlama-7B and Llama-3.1-8B differ only in vocabulary; their
  "torch peak memory increase" lines give both terms; Qwen2.5-7B and Mistral-Small then check it).
* peak activations, V0 (legacy engine, only to read old logs): one full prefill of
  ``max(max_model_len, 2048)`` tokens, ~22 B per token x hidden (the RTX 3090 logs' peak_torch_memory).
* non-torch memory (CUDA context, cuBLAS workspaces): 0.25 GiB (V1 logs), 0.35 GiB (V0 logs).
* tensor/pipeline-parallel buffers (NCCL, custom all-reduce): 1.9 GiB per rank on NVLink parts
  (the H100 logs show 2.07-2.21 GiB non-torch at TP 2-4 vs 0.25 at TP 1), 1.0 GiB on PCIe parts
  (estimated from the L40S and L4 cases; vLLM disables custom all-reduce on >2 PCIe GPUs).
* CUDA graphs: vLLM 0.19's logs show no such term (non-KV = weights + torch peak + non-torch);
  newer engines profile the captured graphs too, so the planner keeps ``CUDA_GRAPH_GIB`` (0.4 GiB)
  in by default as a margin. Pass ``cuda_graph_gib=0`` for ``--enforce-eager`` or older engines.

``tests/sizing`` checks the whole model against public vLLM startup logs, and
``python -m tests.sizing.report`` prints the measured error.

Pure module: no pulumi imports.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

GIB = 1024**3

#: bytes per KV element for each ``--kv-cache-dtype``; "auto" follows the serving dtype (see ``dtype_bytes``).
KV_DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4, "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}

#: vLLM's default ``--block-size`` on CUDA.
DEFAULT_BLOCK_SIZE = 16

#: GPUs whose multi-GPU instances are NVLink (SXM) boards: they get vLLM's custom all-reduce buffers.
NVLINK_GPUS = frozenset({"A100-40GB", "A100-80GB", "H100-80GB", "H200"})

# --- calibrated constants (see the module docstring for where each comes from) ---------------
ACT_BYTES_PER_TOKEN_HIDDEN = {"v1": 12.8, "v0": 22.0}
SAMPLER_BYTES_PER_SEQ_VOCAB = 12.1
NON_TORCH_GIB = {"v1": 0.25, "v0": 0.35}
PARALLEL_BUFFERS_GIB = {"nvlink": 1.9, "pcie": 1.0}
CUDA_GRAPH_GIB = 0.4
#: Vocabulary assumed when the caller does not know it: Qwen2.5's 152,064 (large, so conservative).
DEFAULT_VOCAB = 152_064

# --- decode throughput model --------------------------------------------------------------------
#: Share of the datasheet memory bandwidth a decode step achieves (kernels, TP all-reduce, scheduling).
DECODE_BANDWIDTH_EFFICIENCY = 0.6

Engine = Literal["v1", "v0"]


class ArchLike(Protocol):
    """What the planner needs from a model architecture (``strait.catalog.schema.ModelArch`` fits)."""

    num_layers: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    native_context: int

    @property
    def mla(self): ...  # None, or an object with kv_lora_rank and qk_rope_head_dim


def default_batch_limits(gpu_memory_gib: float, gpu_name: str = "") -> tuple[int, int]:
    """vLLM's OpenAI-server defaults: (max_num_batched_tokens, max_num_seqs).

    ``EngineArgs.get_batch_defaults``: GPUs with >= 70 GiB that are not A100 get 8192 / 1024;
    everything else 2048 / 256.
    """
    if gpu_memory_gib >= 70 and "a100" not in gpu_name.lower():
        return 8192, 1024
    return 2048, 256


def stage_layers(num_layers: int, pp: int = 1) -> list[int]:
    """Layers per pipeline stage, like vLLM's ``get_pp_indices``: extras go to the stages before the last."""
    if pp < 1 or pp > num_layers:
        raise ValueError(f"pipeline_parallel_size {pp} must be between 1 and the layer count {num_layers}")
    base, rem = divmod(num_layers, pp)
    parts = [base] * pp
    for i in range(rem):
        parts[(pp - 2 - i) % pp] += 1
    return parts


def kv_dtype_bytes(kv_cache_dtype: str = "auto", dtype_bytes: int = 2) -> int:
    """Bytes per stored KV element. ``auto`` stores KV in the serving dtype (``--dtype``)."""
    if kv_cache_dtype == "auto":
        return dtype_bytes
    try:
        return KV_DTYPE_BYTES[kv_cache_dtype]
    except KeyError:
        raise ValueError(f"unknown kv_cache_dtype {kv_cache_dtype!r}; use auto or one of {sorted(KV_DTYPE_BYTES)}") from None


def kv_bytes_per_token(arch: ArchLike, tp: int = 1, pp: int = 1, kv_cache_dtype: str = "auto",
                       dtype_bytes: int = 2, layers: int | None = None) -> int:
    """KV-cache bytes one GPU holds per token of context (for the largest stage unless ``layers`` is given)."""
    nbytes = kv_dtype_bytes(kv_cache_dtype, dtype_bytes)
    layers = max(stage_layers(arch.num_layers, pp)) if layers is None else layers
    if arch.mla is not None:
        # MLA caches one compressed latent per token, replicated on every TP rank.
        return layers * (arch.mla.kv_lora_rank + arch.mla.qk_rope_head_dim) * nbytes
    kv_heads_per_gpu = max(1, arch.num_kv_heads // tp)  # fewer KV heads than ranks: vLLM replicates them
    return 2 * layers * kv_heads_per_gpu * arch.head_dim * nbytes


@dataclass(frozen=True)
class StagePlan:
    layers: int
    weights_gib: float
    activation_gib: float
    available_kv_gib: float
    bytes_per_token: int
    kv_tokens: int


@dataclass(frozen=True)
class KvPlan:
    """What vLLM will find at start-up, per GPU. Stage 0 is what rank 0 logs; tokens are the min over stages."""

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
    max_num_seqs: int = 0
    stages: tuple[StagePlan, ...] = ()

    @property
    def weights_fit(self) -> bool:
        return all(s.available_kv_gib > 0 for s in self.stages) if self.stages else self.available_kv_gib > 0

    @property
    def one_sequence_fits(self) -> bool:
        """vLLM refuses to start unless one request of ``max_model_len`` fits in the KV cache."""
        return self.kv_tokens >= self.max_model_len

    @property
    def full_length_sequences(self) -> int:
        """How many sequences of ``max_model_len`` tokens fit in the KV cache at once."""
        return self.kv_tokens // self.max_model_len if self.max_model_len else 0

    @property
    def all_sequences_fit(self) -> bool:
        """``max_num_seqs`` sequences of ``max_model_len`` tokens fit at once (no preemption in the worst case)."""
        return self.full_length_sequences >= self.max_num_seqs

    @property
    def min_available_kv_gib(self) -> float:
        return min(s.available_kv_gib for s in self.stages) if self.stages else self.available_kv_gib


def plan_kv(
    arch: ArchLike,
    weights_gib: float,
    gpu_memory_gib: float,
    *,
    gpu_memory_utilization: float = 0.9,
    tp: int = 1,
    pp: int = 1,
    kv_cache_dtype: str = "auto",
    dtype_bytes: int = 2,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_model_len: int | None = None,
    max_num_seqs: int | None = None,
    max_num_batched_tokens: int | None = None,
    gpu_name: str = "",
    vocab_size: int | None = None,
    nvlink: bool | None = None,
    engine: Engine = "v1",
    cuda_graph_gib: float = CUDA_GRAPH_GIB,
    weights_per_gpu_gib: float | None = None,
    extra_gib: float = 0.0,
    extra_bytes_per_token: int = 0,
) -> KvPlan:
    """Predict vLLM's KV cache for one model on one GPU type.

    ``extra_bytes_per_token``: KV a draft model stores per token beside the model's (speculative decoding
    with a draft model keeps its own KV for every token in the same pool).

    ``extra_gib``: what the engine holds per GPU beside the model's weights (LoRA slots: ``lora_gpu_gib``;
    a draft model: ``draft_gpu_gib``), counted with the runtime overhead.

    ``weights_gib`` is the whole checkpoint as loaded (quantized size for AWQ/GPTQ/FP8);
    ``weights_per_gpu_gib`` overrides the per-rank share when it is known (e.g. from a log).
    ``gpu_name`` is a catalog GPU key; it picks vLLM's batch defaults and NVLink vs PCIe buffers.
    """
    max_model_len = max_model_len or arch.native_context
    dflt_tokens, dflt_seqs = default_batch_limits(gpu_memory_gib, gpu_name)
    seqs = max_num_seqs or dflt_seqs
    if engine == "v0":
        tokens = max_num_batched_tokens or max(max_model_len, 2048)
    else:
        tokens = max_num_batched_tokens or dflt_tokens
    vocab = vocab_size or DEFAULT_VOCAB
    nvlink = (gpu_name in NVLINK_GPUS) if nvlink is None else nvlink
    requested = gpu_memory_gib * gpu_memory_utilization
    overhead = NON_TORCH_GIB[engine] + cuda_graph_gib + extra_gib
    if tp * pp > 1:
        overhead += PARALLEL_BUFFERS_GIB["nvlink" if nvlink else "pcie"]

    layers = stage_layers(arch.num_layers, pp)
    embed_gib = (vocab_size * arch.hidden_size * 2 / GIB) if vocab_size else 0.0
    per_layer = max(0.0, weights_gib - 2 * embed_gib) / arch.num_layers
    stages = []
    for i, n in enumerate(layers):
        first, last = i == 0, i == pp - 1
        if weights_per_gpu_gib is not None and pp == 1:
            w = weights_per_gpu_gib
        else:
            w = (n * per_layer + embed_gib * (first + last)) / tp
        act = tokens * arch.hidden_size * ACT_BYTES_PER_TOKEN_HIDDEN[engine] / GIB
        if last and engine == "v1":
            act += seqs * vocab * SAMPLER_BYTES_PER_SEQ_VOCAB / GIB
        avail = requested - w - act - overhead
        bpt = kv_bytes_per_token(arch, tp, pp, kv_cache_dtype, dtype_bytes, layers=n) + extra_bytes_per_token
        blocks = max(0, math.floor(avail * GIB / (bpt * block_size)))
        stages.append(StagePlan(layers=n, weights_gib=w, activation_gib=act, available_kv_gib=avail,
                                bytes_per_token=bpt, kv_tokens=blocks * block_size))
    worst = min(stages, key=lambda s: s.kv_tokens)
    first = stages[0]
    return KvPlan(
        total_gib=gpu_memory_gib,
        requested_gib=requested,
        weights_gib=first.weights_gib,
        activation_gib=max(s.activation_gib for s in stages),
        overhead_gib=overhead,
        available_kv_gib=first.available_kv_gib,
        bytes_per_token=worst.bytes_per_token,
        kv_tokens=worst.kv_tokens,
        max_model_len=max_model_len,
        max_concurrency=worst.kv_tokens / max_model_len if max_model_len else 0.0,
        max_num_seqs=seqs,
        stages=tuple(stages),
    )


# --- SGLang's memory accounting -------------------------------------------------------------------
#: What SGLang 0.5.23 has already allocated when it measures ``pre_model_load_memory`` (after the
#: distributed init, before the weights): the CUDA context, as in vLLM's V1 logs.
SGLANG_CONTEXT_GIB = NON_TORCH_GIB["v1"]


def plan_kv_sglang(
    arch: ArchLike,
    weights_gib: float,
    gpu_memory_gib: float,
    *,
    mem_fraction_static: float = 0.85,
    tp: int = 1,
    kv_cache_dtype: str = "auto",
    dtype_bytes: int = 2,
    context_length: int | None = None,
    max_running_requests: int = 64,
    gpu_name: str = "",
    nvlink: bool | None = None,
    weights_per_gpu_gib: float | None = None,
    extra_gib: float = 0.0,
) -> KvPlan:
    """Predict SGLang's KV pool for one model on one GPU type, per GPU.

    SGLang sizes its pool differently from vLLM (``KVCacheConfigurator._profile_available_bytes`` in
    ``sglang/srt/mem_cache/kv_cache_configurator.py``)::

        B          = free GPU memory after the distributed init, before the weights (pre_model_load_memory)
        slack      = B x (1 - mem_fraction_static)          # activations, CUDA graphs, sampler
        kv_pool    = free after the weights - slack  =  B x mem_fraction_static - weights_per_gpu

    So ``--mem-fraction-static`` covers weights and KV together, and everything dynamic must fit in
    the rest; there is no activation profiling to subtract. Bytes per token are the same as vLLM's
    (one K and one V per layer per KV head on the rank; MLA one latent). The page size is 1 token.
    ``max_concurrency`` is the full-length sequences that fit; SGLang also caps running requests at
    ``max_running_requests``.
    """
    if not 0 < mem_fraction_static < 1:
        raise ValueError(f"mem_fraction_static {mem_fraction_static} must be in (0, 1)")
    context_length = context_length or arch.native_context
    nvlink = (gpu_name in NVLINK_GPUS) if nvlink is None else nvlink
    before_weights = gpu_memory_gib - SGLANG_CONTEXT_GIB
    if tp > 1:
        before_weights -= PARALLEL_BUFFERS_GIB["nvlink" if nvlink else "pcie"]
    requested = before_weights * mem_fraction_static
    w = weights_per_gpu_gib if weights_per_gpu_gib is not None else weights_gib / tp
    avail = requested - w - extra_gib
    bpt = kv_bytes_per_token(arch, tp, 1, kv_cache_dtype, dtype_bytes)
    tokens = max(0, math.floor(avail * GIB / bpt))
    stage = StagePlan(layers=arch.num_layers, weights_gib=w, activation_gib=0.0, available_kv_gib=avail,
                      bytes_per_token=bpt, kv_tokens=tokens)
    return KvPlan(
        total_gib=gpu_memory_gib, requested_gib=requested, weights_gib=w, activation_gib=0.0,
        overhead_gib=gpu_memory_gib - before_weights, available_kv_gib=avail, bytes_per_token=bpt,
        kv_tokens=tokens, max_model_len=context_length, max_concurrency=tokens / context_length,
        max_num_seqs=max_running_requests, stages=(stage,))


def plan_server(engine: str, arch: ArchLike, weights_gib: float, gpu_memory_gib: float, *, memory_fraction: float,
                tp: int = 1, pp: int = 1, kv_cache_dtype: str = "auto", dtype_bytes: int = 2, block_size: int = DEFAULT_BLOCK_SIZE,
                max_model_len: int | None = None, max_num_seqs: int | None = None, gpu_name: str = "",
                extra_gib: float = 0.0, extra_bytes_per_token: int = 0) -> KvPlan:
    """The KV plan of a planned server, whichever engine runs it. ``memory_fraction`` is vLLM's
    ``--gpu-memory-utilization`` or SGLang's ``--mem-fraction-static``; SGLang has no pipeline split here."""
    if engine == "sglang":
        return plan_kv_sglang(arch, weights_gib, gpu_memory_gib, mem_fraction_static=memory_fraction, tp=tp,
                              kv_cache_dtype=kv_cache_dtype, dtype_bytes=dtype_bytes, context_length=max_model_len,
                              max_running_requests=max_num_seqs or 64, gpu_name=gpu_name, extra_gib=extra_gib)
    return plan_kv(arch, weights_gib, gpu_memory_gib, gpu_memory_utilization=memory_fraction, tp=tp, pp=pp,
                   kv_cache_dtype=kv_cache_dtype, dtype_bytes=dtype_bytes, block_size=block_size,
                   max_model_len=max_model_len, max_num_seqs=max_num_seqs, gpu_name=gpu_name, extra_gib=extra_gib,
                   extra_bytes_per_token=extra_bytes_per_token)


def intermediate_size_estimate(arch: ArchLike, vocab_size: int = DEFAULT_VOCAB) -> int:
    """The MLP width of a dense model, from its parameter count (the catalog does not record it).

    params ~ 2 x vocab x hidden (untied embeddings) + layers x (attention + 3 x hidden x intermediate).
    Qwen2.5-7B gives 18,962 (real 18,944); Llama-3.1-8B, whose vocabulary is smaller than the default,
    13,835 (real 14,336).
    """
    h, hd = arch.hidden_size, arch.head_dim
    attn = h * (arch.num_attention_heads + 2 * arch.num_kv_heads) * hd + arch.num_attention_heads * hd * h
    per_layer = (arch.params_billion * 1e9 - 2 * vocab_size * h) / arch.num_layers
    return max(1, round((per_layer - attn) / (3 * h)))


def lora_gpu_gib(arch: ArchLike, *, max_loras: int, max_lora_rank: int, tp: int = 1, dtype_bytes: int = 2) -> float:
    """GPU memory vLLM preallocates for LoRA: ``max_loras`` slots, each an A (in x r) and a B (r x out) matrix at
    ``max_lora_rank`` for every layer's qkv, o, gate_up and down projections (vLLM's packed modules), in the
    model dtype, split over tensor-parallel ranks. The per-adapter CPU cache (--max-cpu-loras) is host memory."""
    h, hd, inter = arch.hidden_size, arch.head_dim, intermediate_size_estimate(arch)
    q, kv = arch.num_attention_heads * hd, 2 * arch.num_kv_heads * hd
    dims = (h + q + kv) + (q + h) + (h + 2 * inter) + (inter + h)  # in + out of each projection
    return max_loras * max_lora_rank * dims * arch.num_layers * dtype_bytes / tp / GIB


@dataclass(frozen=True)
class DecodeEstimate:
    """Steady-state decode throughput of one replica (memory-bandwidth bound)."""

    batch: int
    avg_context_tokens: int
    bytes_per_step_per_gpu: float
    step_seconds: float
    tokens_per_second: float


def decode_throughput(plan: KvPlan, *, memory_bandwidth_gbps: float, avg_context_tokens: int = 2048,
                      efficiency: float = DECODE_BANDWIDTH_EFFICIENCY) -> DecodeEstimate:
    """Output tokens/s of one replica when decoding is memory-bandwidth bound.

    Every decode step each GPU reads its share of the weights once plus the KV cache of every running
    sequence, in parallel with the other ranks::

        bytes_per_step = weights_per_gpu + batch x avg_context x kv_bytes_per_token_per_gpu
        step_seconds   = bytes_per_step / (bandwidth x efficiency)
        tokens/s       = batch / step_seconds

    ``batch`` is what the KV cache and ``max_num_seqs`` allow at ``avg_context_tokens`` per sequence.
    Prefill, speculative decoding and compute-bound large batches are not modelled; it is an
    order-of-magnitude figure for cost per token, not a benchmark.
    """
    if avg_context_tokens <= 0:
        raise ValueError("avg_context_tokens must be positive")
    batch = max(0, min(plan.max_num_seqs or 1, plan.kv_tokens // avg_context_tokens))
    step_bytes = plan.weights_gib * GIB + batch * avg_context_tokens * plan.bytes_per_token
    step_s = step_bytes / (memory_bandwidth_gbps * 1e9 * efficiency)
    tps = batch / step_s if batch and step_s > 0 else 0.0
    return DecodeEstimate(batch=batch, avg_context_tokens=avg_context_tokens, bytes_per_step_per_gpu=step_bytes,
                          step_seconds=step_s, tokens_per_second=tps)


# --- throughput for a prompt/response mix: memory and compute roofline -------------------------------
#: Share of the datasheet dense BF16/FP16 tensor TFLOPS a serving step achieves when compute bound. Calibrated on
#: vLLM's published high-concurrency runs (tests/data/throughput_cases.yaml: Llama 3.1 8B on 1x H100 and 70B on
#: 4x H100 both need 0.28 to match); AWQ/GPTQ dequantise to FP16 tensor cores, so the same share applies.
COMPUTE_EFFICIENCY = 0.28
#: The seeds' default request: 500 prompt tokens, 200 output tokens.
DEFAULT_PROMPT_TOKENS = 500
DEFAULT_OUTPUT_TOKENS = 200
#: Draft acceptance assumed for n-gram speculation on structured output (JSON, code edits) when none is given.
DEFAULT_NGRAM_ACCEPTANCE = 0.6


def speculative_tokens_per_step(acceptance: float, k: int) -> float:
    """Expected tokens emitted per verification step with ``k`` drafted tokens accepted with probability
    ``acceptance`` each (Leviathan et al. 2023, "Fast Inference from Transformers via Speculative Decoding",
    eq. 1): (1 - a^(k+1)) / (1 - a)."""
    if not 0 <= acceptance < 1:
        raise ValueError("acceptance must be in [0, 1)")
    return (1 - acceptance ** (k + 1)) / (1 - acceptance)


@dataclass(frozen=True)
class ThroughputEstimate:
    """Steady-state throughput of one replica serving a prompt/response mix with continuous batching."""

    batch: int
    prompt_tokens: int
    output_tokens: int
    step_seconds: float
    memory_seconds: float
    compute_seconds: float
    bound: str
    """'memory' or 'compute': which roof the step hits."""
    tokens_per_step: float
    output_tokens_per_second: float
    per_sequence_tokens_per_second: float

    @property
    def total_tokens_per_second(self) -> float:
        return self.output_tokens_per_second * (1 + self.prompt_tokens / self.output_tokens)


def serving_throughput(plan: KvPlan, *, params_billion: float, memory_bandwidth_gbps: float, dense_tflops: float,
                       tp: int = 1, prompt_tokens: int = DEFAULT_PROMPT_TOKENS,
                       output_tokens: int = DEFAULT_OUTPUT_TOKENS, batch: int | None = None,
                       speculative_k: int = 0, acceptance: float = 0.0, draft_params_billion: float = 0.0,
                       draft_weights_gib: float = 0.0,
                       bandwidth_efficiency: float = DECODE_BANDWIDTH_EFFICIENCY,
                       compute_efficiency: float = COMPUTE_EFFICIENCY) -> ThroughputEstimate:
    """Output tokens/s of one replica at a prompt/response mix, the larger of two per-step costs (a roofline).

    Each engine step every running sequence gets one verification pass; per GPU::

        memory  = weights_per_gpu + draft_weights_per_gpu x k + batch x avg_context x kv_bytes_per_token
        compute = 2 x params_per_gpu x batch x ((k + 1) + E x prompt/output) + 2 x draft_params_per_gpu x batch x k
        step    = max(memory / (bandwidth x bw_eff), compute / (tflops x compute_eff))
        tokens/s = batch x E / step          (E = tokens per step: 1, or the speculative expectation)

    Prefill rides in the same steps (chunked prefill): every output token carries prompt/output prompt tokens of
    compute but no extra weight reads. ``avg_context`` is prompt + output / 2. ``batch`` defaults to what the KV
    cache and max_num_seqs allow at prompt + output tokens per sequence. Not modelled: CPU/scheduler overhead,
    TP all-reduce time beyond the efficiencies, prefix-cache hits (which cut prefill compute).
    """
    if prompt_tokens < 0 or output_tokens <= 0:
        raise ValueError("prompt_tokens must be >= 0 and output_tokens > 0")
    seq = prompt_tokens + output_tokens
    if batch is None:
        batch = max(0, min(plan.max_num_seqs or 1, plan.kv_tokens // seq))
    e = speculative_tokens_per_step(acceptance, speculative_k) if speculative_k else 1.0
    avg_ctx = prompt_tokens + output_tokens / 2
    mem = (plan.weights_gib + draft_weights_gib / tp * speculative_k) * GIB + batch * avg_ctx * plan.bytes_per_token
    flops = (2 * params_billion * 1e9 / tp * batch * ((speculative_k + 1) + e * prompt_tokens / output_tokens)
             + 2 * draft_params_billion * 1e9 / tp * batch * speculative_k)
    mem_s = mem / (memory_bandwidth_gbps * 1e9 * bandwidth_efficiency)
    comp_s = flops / (dense_tflops * 1e12 * compute_efficiency)
    step = max(mem_s, comp_s)
    out = batch * e / step if batch and step > 0 else 0.0
    return ThroughputEstimate(batch=batch, prompt_tokens=prompt_tokens, output_tokens=output_tokens, step_seconds=step,
                              memory_seconds=mem_s, compute_seconds=comp_s,
                              bound="compute" if comp_s > mem_s else "memory", tokens_per_step=e,
                              output_tokens_per_second=out, per_sequence_tokens_per_second=e / step if step else 0.0)


def find_checkpoint(model_path: str, catalog) -> tuple[str, object, str, object] | None:
    """(model key, ModelArch, quantization, Variant) whose Hugging Face repo ``model_path`` names.

    The weight cache keeps checkpoints under ``s3://<bucket>/models/<org>/<repo>/<revision>``; a bare
    hub id (``org/repo``) matches too. The longest repo wins (``X-AWQ`` before ``X``).
    """
    padded = "/" + model_path.strip("/") + "/"
    best = None
    for key, arch in catalog.models.items():
        for quant, var in arch.variants.items():
            if f"/{var.hf_repo}/" in padded and (best is None or len(var.hf_repo) > len(best[3].hf_repo)):
                best = (key, arch, quant, var)
    return best


# --- max_num_seqs from the KV planner ------------------------------------------------------------
#: Share of the full-length sequences that fit which a model gets as ``--max-num-seqs`` when its stack
#: does not set one. 1.0: every admitted sequence can grow to ``max_model_len`` without vLLM preempting
#: (the strait-kv-cache-concurrency guarantee). Set ``max_num_seqs`` in the stack to trade that
#: guarantee for more concurrent short requests.
DERIVED_MAX_NUM_SEQS_SHARE = 1.0


def max_num_seqs_that_fit(arch: ArchLike, weights_gib: float, gpu_memory_gib: float, *,
                          share: float = DERIVED_MAX_NUM_SEQS_SHARE, gpu_name: str = "", engine: str = "vllm",
                          memory_fraction: float = 0.9, **plan_kwargs) -> int:
    """The largest ``--max-num-seqs`` whose sequences all fit at ``max_model_len`` at once, times ``share``.

    ``max_num_seqs`` itself costs memory (vLLM profiles the sampler for that many sequences), so this
    is the largest n with ``plan_server(..., max_num_seqs=n).full_length_sequences >= n``, searched up to
    vLLM's own default for the GPU; ``full_length_sequences`` only falls as n grows, so a bisection
    finds it. At least 1: when not even one sequence fits, strait-max-model-len-fits reports that.
    ``engine`` and ``memory_fraction`` are ``plan_server``'s (vLLM's --gpu-memory-utilization or SGLang's
    --mem-fraction-static); ``plan_kwargs`` its other inputs (tp, kv_cache_dtype, max_model_len, extra_gib ...).
    """
    if not 0 < share <= 1:
        raise ValueError(f"share {share} must be in (0, 1]")
    plan_kwargs.pop("max_num_seqs", None)

    def fits(n: int) -> bool:
        return plan_server(engine, arch, weights_gib, gpu_memory_gib, memory_fraction=memory_fraction,
                           max_num_seqs=n, gpu_name=gpu_name, **plan_kwargs).full_length_sequences >= n

    lo, hi = 0, default_batch_limits(gpu_memory_gib, gpu_name)[1]
    while lo < hi:  # invariant: fits(lo) or lo == 0
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return max(1, math.floor(lo * share))


def resolve_max_num_seqs(model, catalog, gpu_key: str) -> int:
    """``--max-num-seqs`` (SGLang: ``--max-running-requests``) for a model config on a pool with GPU ``gpu_key``:
    the stack's value if it sets one, else ``max_num_seqs_that_fit`` with the planner inputs the
    strait-kv-cache-concurrency policy uses (engine, memory fraction, LoRA slots and a draft model included).

    ``model`` is a ``ModelConfig``; ``catalog`` a ``Catalog``. Pure: no pulumi.
    """
    if model.max_num_seqs is not None:
        return model.max_num_seqs
    from strait import engines  # its helpers read ModelConfig fields; it imports this module lazily too

    arch = catalog.models[model.model]
    return max_num_seqs_that_fit(
        arch, arch.variants[model.quantization].weights_gib, catalog.gpus[gpu_key].memory_gib, gpu_name=gpu_key,
        engine=getattr(model, "engine", "vllm"), memory_fraction=engines.memory_fraction(model),
        tp=model.tensor_parallel_size, pp=getattr(model, "nodes", 1), kv_cache_dtype=model.kv_cache_dtype,
        max_model_len=model.max_model_len, extra_gib=engines.extra_gpu_gib(model, arch),
        extra_bytes_per_token=engines.draft_kv_bytes_per_token(model))
