"""``vllm serve`` argv for the pinned vLLM version (see catalog images.yaml).

The output is checked by vLLM's own argument parser in tests/render/test_vllm_parser.py.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

VLLM_PORT = 8000
#: vLLM 0.33.0's allowed --max-lora-rank values (vllm/config/lora.py MaxLoRARanks).
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
#: Where the pod keeps LoRA adapters copied from the weight cache (an emptyDir).
ADAPTER_DIR = "/adapters"
#: vLLM reads the API key from this variable (same as --api-key); it guards /v1 only.
API_KEY_ENV = "VLLM_API_KEY"
#: The router's P/D ``--kv-connector`` -> vLLM 0.33.0's registered connector class
#: (vllm/distributed/kv_transfer/kv_connector/factory.py). MoRI-IO is left out: the router needs ZMQ discovery.
KV_CONNECTORS = {"nixl": "NixlConnector", "mooncake": "MooncakeConnector"}
#: vLLM's KV roles (vllm/config/kv_transfer.py KVRole) for the two P/D pools.
KV_ROLES = {"prefill": "kv_producer", "decode": "kv_consumer"}
#: NixlConnector's handshake listener (vLLM env VLLM_NIXL_SIDE_CHANNEL_PORT, default 5600); the blocks themselves
#: move over UCX (RDMA, or TCP on ephemeral ports without it).
NIXL_SIDE_CHANNEL_PORT = 5600
#: MooncakeConnector's bootstrap server on a prefill pod (vLLM env VLLM_MOONCAKE_BOOTSTRAP_PORT, default 8998).
MOONCAKE_BOOTSTRAP_PORT = 8998


@dataclass(frozen=True, kw_only=True)
class KvTransferSpec:
    """One server's side of prefill/decode disaggregation: ``--kv-transfer-config`` (vLLM's KVTransferConfig)."""

    role: str
    """'prefill' (kv_producer) or 'decode' (kv_consumer)."""
    connector: str = "nixl"
    """The router's name for it (``--kv-connector``): nixl or mooncake."""
    buffer_device: str = "cuda"

    def problems(self) -> list[str]:
        out = []
        if self.role not in KV_ROLES:
            out.append(f"kv transfer role {self.role!r} must be one of {sorted(KV_ROLES)}")
        if self.connector not in KV_CONNECTORS:
            out.append(f"kv connector {self.connector!r} must be one of {sorted(KV_CONNECTORS)}")
        if self.buffer_device not in ("cuda", "cpu"):
            out.append(f"kv buffer_device {self.buffer_device!r} must be cuda or cpu")
        return out

    def json(self) -> str:
        """The flag's value: compact, sorted JSON (one argv element; no shell parses it)."""
        problems = self.problems()
        if problems:
            raise ValueError("; ".join(problems))
        return json.dumps({"kv_buffer_device": self.buffer_device, "kv_connector": KV_CONNECTORS[self.connector],
                           "kv_role": KV_ROLES[self.role]}, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True, kw_only=True)
class VllmSpec:
    """What one vLLM server runs. Plain values only, so the argv is deterministic."""

    model: str
    """Weights location: an s3:// prefix of the weight cache, a local path, or a hub id (tests only)."""
    served_model_name: str
    max_model_len: int
    gpu_memory_utilization: float = 0.90
    max_num_seqs: int = 64
    tensor_parallel_size: int = 1
    quantization: str | None = None
    """None: vLLM detects AWQ/GPTQ/FP8 from the checkpoint's quantization_config."""
    kv_cache_dtype: str = "auto"
    enable_prefix_caching: bool = True
    shutdown_timeout_seconds: int = 60
    load_format: str | None = "runai_streamer"
    """'runai_streamer' streams safetensors from S3 straight into GPU memory. None: vLLM's default."""
    port: int = VLLM_PORT
    tool_call_parser: str | None = None
    """vLLM tool-call parser (catalog ``engines.vllm``). None: no auto tool choice; vLLM answers a request
    carrying ``tools`` with tool_choice auto with a 400."""
    chat_template: str | None = None
    """Chat template path inside the image. None: the checkpoint's own template."""
    reasoning_parser: str | None = None
    """vLLM reasoning parser: ``<think>`` output goes to ``reasoning_content``. None: off."""
    lora_modules: tuple[tuple[str, str], ...] = ()
    """(name, local path) of each LoRA adapter; clients send the name as ``model``. Empty: LoRA off."""
    max_loras: int = 1
    """Adapters in one batch (GPU slots)."""
    max_lora_rank: int = 16
    """Must be one of vLLM's ranks (LORA_RANKS) and cover every adapter's rank."""
    max_cpu_loras: int | None = None
    """Adapters kept in host memory. None: max_loras."""
    speculative_config: str | None = None
    """JSON for --speculative-config (one argv element: no shell parses it). None: off."""
    kv_transfer: KvTransferSpec | None = None
    """This server's pool in prefill/decode disaggregation. None: off, it does both."""


def render_vllm_args(spec: VllmSpec) -> list[str]:
    """Arguments after ``vllm serve`` (the model is the positional first argument)."""
    args = [
        spec.model,
        "--served-model-name", spec.served_model_name,
        "--host", "0.0.0.0",
        "--port", str(spec.port),
        "--max-model-len", str(spec.max_model_len),
        "--gpu-memory-utilization", f"{spec.gpu_memory_utilization:g}",
        "--max-num-seqs", str(spec.max_num_seqs),
        "--tensor-parallel-size", str(spec.tensor_parallel_size),
        "--kv-cache-dtype", spec.kv_cache_dtype,
        "--enable-prefix-caching" if spec.enable_prefix_caching else "--no-enable-prefix-caching",
        "--shutdown-timeout", str(spec.shutdown_timeout_seconds),
        # /metrics stays on: never pass --disable-log-stats (it turns the Prometheus metrics off).
    ]
    if spec.quantization:
        args += ["--quantization", spec.quantization]
    if spec.load_format:
        args += ["--load-format", spec.load_format]
    if spec.tool_call_parser:
        args += ["--enable-auto-tool-choice", "--tool-call-parser", spec.tool_call_parser]
    if spec.chat_template:
        args += ["--chat-template", spec.chat_template]
    if spec.reasoning_parser:
        args += ["--reasoning-parser", spec.reasoning_parser]
    if spec.lora_modules:
        args += ["--enable-lora", "--max-loras", str(spec.max_loras), "--max-lora-rank", str(spec.max_lora_rank),
                 "--max-cpu-loras", str(spec.max_cpu_loras or spec.max_loras),
                 "--lora-modules", *(f"{name}={path}" for name, path in spec.lora_modules)]
    if spec.speculative_config:
        args += ["--speculative-config", spec.speculative_config]
    if spec.kv_transfer is not None:
        args += ["--kv-transfer-config", spec.kv_transfer.json()]
    return args


def parse_vllm_command(argv: list) -> tuple[str, dict[str, str]] | None:
    """The inverse of :func:`render_vllm_command`, for readers of planned resources (cost, policies).

    ``argv`` is a container's command + args. Returns (model, flags) with flag names without ``--``
    (a flag given without a value maps to "true"), or None when it is not ``vllm serve``.
    """
    argv = [str(a) for a in argv]
    if len(argv) < 2 or "vllm" not in argv[0] or argv[1] != "serve":
        return None
    model, flags, rest, i = None, {}, argv[2:], 0
    while i < len(rest):
        a = rest[i]
        if a.startswith("--"):
            if "=" in a:
                k, v = a[2:].split("=", 1)
                flags[k] = v
            elif i + 1 < len(rest) and not rest[i + 1].startswith("--"):
                flags[a[2:]] = rest[i + 1]
                i += 1
            else:
                flags[a[2:]] = "true"
        elif model is None:
            model = a
        i += 1
    return (model or flags.get("model", "")), flags


def render_vllm_command(spec: VllmSpec) -> list[str]:
    return ["vllm", "serve", *render_vllm_args(spec)]


def spec_checksum(spec: VllmSpec, *extra: object) -> str:
    """sha256 of everything that should roll the Deployment when it changes."""
    fields = asdict(spec)
    if fields["kv_transfer"] is None:  # added later: absent, the checksum of every existing server stays as it was
        del fields["kv_transfer"]
    payload = json.dumps([fields, [str(e) for e in extra]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()
