"""Config sections shared by the blueprints. Pure pydantic: no pulumi imports.

Every field states its default and what it does. Keys of collections (pools, models, tiers) are
names the user chooses; they end up in Kubernetes and cloud resource names, so they must be
DNS-1123 labels.
"""
from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Name = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z]([a-z0-9-]{0,28}[a-z0-9])?$"),
    Field(description="A DNS-1123 label of at most 30 characters: lower-case letters, digits and '-'."),
]
Capacity = Literal["spot", "on_demand"]
Provider = Literal["anthropic", "openai", "deepseek"]


class StrictModel(BaseModel):
    """A config section: unknown keys are errors, values are immutable once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(StrictModel):
    """The VPC. Default: 10.40.0.0/16 over 2 availability zones with one shared NAT gateway."""

    cidr: str = Field("10.40.0.0/16", description="VPC CIDR, a /16 to /20 private range.")
    availability_zones: int = Field(2, ge=2, le=3, description="How many AZs to spread subnets over.")
    nat_gateways: Literal["single", "per_az"] = Field(
        "single", description="'single' saves ~$33/month per AZ; 'per_az' survives the loss of an AZ."
    )

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        try:
            net = ipaddress.ip_network(v)
        except ValueError:
            raise ValueError("not a CIDR block || use a private range such as 10.40.0.0/16") from None
        if not net.is_private or not 16 <= net.prefixlen <= 20:
            raise ValueError("the VPC needs a private /16 to /20 range || use a private range such as 10.40.0.0/16")
        return v


class ClusterConfig(StrictModel):
    """The EKS control plane and its system node group."""

    kubernetes_version: str = Field("1.35", description="EKS minor version; must be in the catalog (kubernetes.yaml).")
    system_instance_type: str = Field("m7i.large", description="Instance type of the system (CPU) node group.")
    system_nodes: int = Field(2, ge=1, le=10, description="Size of the system node group (min = desired; max = +1).")
    api_public_cidrs: list[str] = Field(
        default_factory=list,
        description="CIDRs allowed to reach the public API endpoint. Default: none, the endpoint is private "
        "and `pulumi up` must run from inside the VPC (or over a VPN).",
    )

    @field_validator("api_public_cidrs")
    @classmethod
    def _cidrs(cls, v: list[str]) -> list[str]:
        for c in v:
            try:
                ipaddress.ip_network(c)
            except ValueError:
                raise ValueError(f"{c!r} is not a CIDR block || write CIDRs like 203.0.113.0/24") from None
        return v


class GpuPoolConfig(StrictModel):
    """A GPU node group. Several instance types with the same GPU give spot capacity more pools to draw on."""

    instance_types: list[str] = Field(min_length=1, description="Instance types, all with the same GPU model and count.")
    capacity: Capacity = Field("on_demand", description="'spot' (cheaper, can be reclaimed) or 'on_demand'.")
    min_size: int = Field(1, ge=0, le=100, description="Fewest nodes. Default: 1.")
    max_size: int = Field(2, ge=1, le=100, description="Most nodes; the spend policy prices this worst case. Default: 2.")
    desired_size: int | None = Field(None, ge=0, le=100, description="Initial node count. Default: min_size.")
    disk_size_gib: int = Field(200, ge=50, le=16384, description="Root volume (gp3), holds images and any node-local weights.")
    ami: Literal["al2023_nvidia", "bottlerocket_nvidia"] = Field(
        "al2023_nvidia",
        description="EKS-optimised NVIDIA AMI. AL2023 ships the driver, and Strait installs the NVIDIA device "
        "plugin; Bottlerocket ships both.",
    )

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size


class ModelConfig(StrictModel):
    """One model served by vLLM."""

    model: str = Field(description="Catalog key, e.g. qwen2.5-32b-instruct (see `strait catalog models`).")
    quantization: str = Field("bf16", description="Which checkpoint: bf16, awq, fp8 ... as the catalog lists.")
    pool: Name = Field(description="Key of the GPU pool to run on.")
    replicas: int = Field(1, ge=1, le=64, description="Model server replicas, each on its own node. Default: 1, no HA.")
    max_model_len: int = Field(ge=256, description="vLLM --max-model-len: longest prompt + completion, in tokens.")
    gpu_memory_utilization: float = Field(0.90, gt=0.3, le=0.98, description="vLLM --gpu-memory-utilization.")
    max_num_seqs: int = Field(64, ge=1, le=4096, description="vLLM --max-num-seqs: concurrent sequences per replica.")
    tensor_parallel_size: int = Field(1, description="GPUs per replica (1, 2, 4 or 8).")
    kv_cache_dtype: Literal["auto", "fp8"] = Field("auto", description="'fp8' halves KV memory; needs Ada/Hopper GPUs.")
    enable_prefix_caching: bool = Field(True, description="vLLM automatic prefix caching (on by default upstream too).")
    served_model_name: str | None = Field(None, description="Name clients use. Default: the key of this model.")
    revision: str = Field("main", description="Hugging Face revision to seed into the weight cache; pin a commit for production.")
    shutdown_timeout_seconds: int = Field(60, ge=0, le=3600, description="vLLM --shutdown-timeout: drain time for in-flight requests.")
    startup_timeout_seconds: int | None = Field(
        None, ge=60, le=7200, description="Startup probe budget. Default: 5 min + 20 s per GiB of weights per GPU."
    )

    @field_validator("tensor_parallel_size")
    @classmethod
    def _tp(cls, v: int) -> int:
        if v not in (1, 2, 4, 8):
            raise ValueError("tensor parallelism must be a power of two up to 8 || use 1, 2, 4 or 8")
        return v


class ProviderModelConfig(StrictModel):
    """A commercial model behind the gateway."""

    provider: Provider
    model: str = Field(description="Provider model id, e.g. claude-sonnet-4-5, gpt-5-mini, deepseek-chat.")


class TierConfig(StrictModel):
    """A gateway tier: a model group clients can name directly."""

    models: list[Name] = Field(default_factory=list, description="Keys of self-hosted models serving this tier.")
    providers: list[ProviderModelConfig] = Field(default_factory=list, description="Commercial models serving this tier.")
    fallbacks: list[Name] = Field(default_factory=list, description="Tiers to try, in order, when this one fails.")
    timeout_seconds: float = Field(60, gt=0, le=600, description="Per-request timeout for this tier.")


class GatewayConfig(StrictModel):
    """The LiteLLM gateway."""

    replicas: int = Field(2, ge=1, le=20, description="Gateway replicas. Default: 2 (HA).")
    tiers: dict[Name, TierConfig] = Field(min_length=1, description="Tiers keyed by the model name clients send.")
    num_retries: int = Field(1, ge=0, le=5, description="Retries on the same tier before falling back.")
    allowed_fails: int = Field(1, ge=0, le=10, description="Failures per minute before a deployment is cooled down.")
    cooldown_seconds: int = Field(30, ge=1, le=3600, description="How long a failed deployment is skipped.")


class WeightCacheConfig(StrictModel):
    """The S3 weight cache. Model servers stream weights from it and never from the hub."""

    seed: bool = Field(True, description="Run a one-off Job per model that copies it from Hugging Face into the cache.")
    force_destroy: bool = Field(False, description="Allow `pulumi destroy` to delete a bucket that still holds weights.")
