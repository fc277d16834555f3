"""Typed shape of the catalog data files (``strait/catalog/data/*.yaml``).

Every fact that goes stale (prices, regional offers) or that we copied from an
upstream (model configs) carries ``source`` and ``as_of`` so a reader can check it.
"""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Cloud = Literal["aws", "gcp"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(_Strict):
    source: str = Field(description="URL or document the fact was taken from.")
    as_of: dt.date = Field(description="Date the source was read or published.")


class Region(Sourced):
    cloud: Cloud
    city: str
    country: str
    zones: tuple[str, ...] = Field(description="Availability zones / GCP zones in the region.")


class Gpu(Sourced):
    """One GPU model (per-device facts)."""

    memory_gib: float = Field(description="Device memory in GiB as reported by the driver (e.g. 44.5 for L40S 48 GB).")
    memory_gb_marketing: int = Field(description="Memory as marketed, in GB.")
    architecture: str = Field(description="NVIDIA architecture: Turing, Ampere, Ada, Hopper, Blackwell.")
    fp8: bool = Field(description="Native FP8 tensor cores (Ada/Hopper+).")
    bf16_dense_tflops: float = Field(description="Dense BF16 tensor TFLOPS (no sparsity).")
    memory_bandwidth_gbps: float = Field(description="Memory bandwidth in GB/s.")


class RegionPrice(Sourced):
    on_demand_usd_per_hour: float | None = Field(
        default=None, description="Linux on-demand price. None: not published / not offered on demand."
    )
    spot_usd_per_hour: float | None = Field(
        default=None, description="Typical spot price. None: unknown."
    )
    zones: tuple[str, ...] | None = Field(
        default=None, description="Zones where the type is offered, when known. None: not researched per zone."
    )


class InstanceType(Sourced):
    cloud: Cloud
    gpu: str | None = Field(default=None, description="Key into gpus.yaml. None: a CPU-only type (system nodes).")
    gpu_count: int = 0
    vcpu: int
    memory_gib: float
    local_nvme_gb: int = 0
    regions: dict[str, RegionPrice] = Field(
        default_factory=dict,
        description="Regions where this type is OFFERED, keyed by region code. Absent region = not offered.",
    )


class Variant(Sourced):
    """A downloadable checkpoint of a model in one quantization."""

    hf_repo: str
    weights_gib: float = Field(description="Total size of the safetensors weight files in GiB.")
    vllm_quantization: str | None = Field(
        default=None, description="Value for vLLM --quantization, None for unquantized or auto-detected."
    )


class Mla(_Strict):
    kv_lora_rank: int
    qk_rope_head_dim: int


EngineName = Literal["vllm", "sglang"]


class EngineFeatures(Sourced):
    """How one serving engine handles a model's tool calls and reasoning output.

    Parser names must be registered in the pinned engine (tests/engines read the engine's own
    registries: ``vllm/tool_parsers/__init__.py``, ``vllm/reasoning/__init__.py``, SGLang's
    ``FunctionCallParser.ToolCallParserEnum`` and ``ReasoningParser.DetectorMap``).
    """

    tool_call_parser: str | None = Field(
        default=None, description="Engine name of the tool-call parser. None: the model has no tool-call format the "
        "engine parses, so tool calling stays off.")
    reasoning_parser: str | None = Field(
        default=None, description="Engine name of the reasoning parser that splits <think> output into "
        "reasoning_content. None: not a reasoning model.")
    chat_template: str | None = Field(
        default=None, description="Chat template path inside the pinned engine image. None: the checkpoint's own "
        "template (tokenizer_config.json) already renders tools.")


class SpeculatorHead(Sourced):
    """A trained speculative-decoding head (EAGLE / EAGLE-3) for one target model, seeded into the weight cache
    like a draft model and named by vLLM's --speculative-config ``model``."""

    hf_repo: str
    weights_gib: float = Field(gt=0, description="GPU memory of the head's weights in GiB (planned per GPU / TP).")
    format: Literal["safetensors"] = Field(description="Checkpoint format: runai_streamer streams safetensors only.")
    layers: int = Field(ge=1, description="Decoder layers of the head (each holds its own KV cache).")
    revision: str | None = Field(None, pattern=r"^[0-9a-f]{40}$", description="A commit a source names. The stack "
                                 "still pins draft_revision, as it does for a draft model.")


class ModelArch(Sourced):
    """Architecture facts from the model's own config.json."""

    architecture: str = Field(description="config.json `architectures[0]`.")
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    hidden_size: int
    params_billion: float
    native_context: int = Field(description="max_position_embeddings without rope scaling.")
    torch_dtype: str
    mla: Mla | None = None
    variants: dict[str, Variant] = Field(description="Keyed by quantization name: bf16, awq, fp8, gptq-int4 ...")
    engines: dict[EngineName, EngineFeatures] = Field(
        default_factory=dict, description="Tool-call / reasoning support per serving engine. Absent engine: neither.")
    ngram_unsuitable: str | None = Field(
        default=None, description="Why n-gram (prompt-lookup) speculative decoding rarely pays off on this model, "
        "with its source. None: no known reason; n-gram helps when outputs repeat the prompt (code edits, RAG, JSON).")
    speculators: dict[Literal["eagle", "eagle3"], SpeculatorHead] = Field(
        default_factory=dict, description="Trained draft heads by vLLM speculative method. Absent: that method is "
        "refused for this model.")


class KubernetesVersion(Sourced):
    """A Kubernetes minor version as supported by a managed service."""

    release_date: dt.date
    end_of_standard_support: dt.date


class GkeVersion(Sourced):
    """A GKE minor version as offered in a release channel (the patch GKE picks when a cluster is created)."""

    channel: Literal["RAPID", "REGULAR", "STABLE", "EXTENDED"]
    default_patch: str = Field(description="The channel's default patch for cluster creation on `as_of`.")


class ImagePin(Sourced):
    """A container image pinned to the version whose flags/metrics we render."""

    repository: str
    tag: str
    version: str = Field(description="Upstream software version the tag carries (e.g. vLLM 0.33.0).")
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$",
                               description="The tag's image index digest, as its publisher lists it in "
                                           "`digest_source`; pods then pull `repository:tag@digest`. Default: none, "
                                           "pulled by tag (say why in `digest_note`).")
    digest_source: str | None = Field(None, description="Where the digest was read (required with a digest).")
    digest_note: str | None = Field(None, description="Why the image has no digest (required without one).")


class UnitPrice(Sourced):
    usd: float = Field(description="Price per unit.")


class ServicePrice(_Strict):
    """A non-instance cost component (EKS control plane, NAT gateway, storage ...)."""

    unit: Literal["hour", "GiB-month", "GB-month", "GB"]
    description: str
    regions: dict[str, UnitPrice] = Field(description="Price per region code.")


class ProviderPrice(Sourced):
    """List price of one commercial model (``provider/model`` as LiteLLM names it)."""

    input_usd_per_million: float = Field(ge=0, description="USD per million prompt tokens.")
    output_usd_per_million: float = Field(ge=0, description="USD per million output tokens.")

    def usd_per_million_output_at(self, prompt_tokens: int, output_tokens: int) -> float:
        """What a million output tokens cost when each request also sends prompt_tokens / output_tokens as many
        prompt tokens: the figure comparable to a self-hosted server's $ per million output tokens."""
        return self.output_usd_per_million + self.input_usd_per_million * prompt_tokens / output_tokens

