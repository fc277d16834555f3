"""Config model of the phase-3 production blueprint: phase 1's sections, where a model may span several nodes
(``models.<m>.nodes``: vLLM's multi-node mode on a LeaderWorkerSet) and a GPU pool may sit on reserved capacity
(``gpu_pools.<p>.reservation``), plus serving above batch (pod priority classes) and alerts that reach a person
(``observability.alerting``)."""
from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from strait.catalog import load_catalog
from strait.config.advisories import AcceptedAdvisories
from strait.config.checks import check_platform
from strait.config.errors import issues_error
from strait.config.gcp import GcpConfig, check_gcp
from strait.config.observability import ObservabilityConfig, check_observability
from strait.config.sections import (
    AutoscalerConfig,
    ClusterConfig,
    GatewayConfig,
    GpuPoolConfig,
    ModelConfig,
    Name,
    NetworkConfig,
    StrictModel,
    WeightCacheConfig,
)
from strait.tags import aws_tag_issues


class DisaggregationConfig(StrictModel):
    """Prefill/decode disaggregation of one model (docs/routing.md): a prefill pool computes each prompt's KV cache
    and hands it to a decode pool through vLLM's KV connector; the vLLM router's P/D mode sends every request to
    one of each. Both pools run on the model's GPU pool (the same GPU, so the KV layout matches)."""

    prefill_replicas: int = Field(ge=1, le=32, description="Prefill servers (vLLM kv_producer), each on its own node.")
    decode_replicas: int = Field(ge=1, le=32, description="Decode servers (vLLM kv_consumer), each on its own node.")
    connector: Literal["nixl"] = Field("nixl", description="vLLM's KV connector: nixl (NixlConnector over UCX; the "
                                       "router's --kv-connector nixl). Default: nixl.")


class Phase3ModelConfig(ModelConfig):
    """A phase-3 model: phase 1's keys, plus prefill/decode disaggregation as an opt-in."""

    disaggregation: DisaggregationConfig | None = Field(
        None, description="Serve this model with separate prefill and decode pools behind the vLLM router's P/D mode "
        "(vLLM only, one node per replica; replicas becomes prefill_replicas + decode_replicas). Needs RDMA-class "
        "networking between the pools (docs/routing.md). Default: off, every replica does both.")

    @model_validator(mode="before")
    @classmethod
    def _pd_replicas(cls, data: Any) -> Any:
        """With disaggregation, replicas counts both pools (capacity checks, the gateway's weights)."""
        d = data.get("disaggregation") if isinstance(data, dict) else None
        if isinstance(d, dict) and "replicas" not in data and all(
                isinstance(d.get(k), int) for k in ("prefill_replicas", "decode_replicas")):
            data = {**data, "replicas": d["prefill_replicas"] + d["decode_replicas"]}
        return data

    @model_validator(mode="after")
    def _pd(self) -> "Phase3ModelConfig":
        d = self.disaggregation
        if d is None:
            return self
        issues = []
        if self.engine != "vllm":
            issues.append(f"disaggregation: engine {self.engine!r} is not supported; set engine: vllm (its KV "
                          "connector is what moves the cache) or remove disaggregation")
        if self.nodes != 1:
            issues.append(f"disaggregation: nodes {self.nodes} is not supported; P/D pools run one node per replica, "
                          "set nodes: 1 or remove disaggregation")
        if self.replicas != d.prefill_replicas + d.decode_replicas:
            issues.append(f"replicas {self.replicas} must equal disaggregation.prefill_replicas + decode_replicas "
                          f"({d.prefill_replicas + d.decode_replicas}); leave replicas out")
        if issues:
            raise ValueError("; ".join(issues))
        return self


class Phase3Config(StrictModel):
    """`strait:*` keys of a phase-3 stack. Every key is checked before any resource exists."""

    MANAGES_DATABASE: ClassVar[bool] = True
    """gateway.spend_tracking gets the cloud's private managed Postgres (``Platform.database``)."""

    blueprint: Literal["phase3_prod"]
    cloud: Literal["aws", "gcp"] = Field("aws", description="Which cloud builds the platform: aws (EKS, S3) or gcp "
                                         "(GKE, GCS; needs the gcp section). Default: aws.")
    region: str = Field(description="Region code of that cloud from the catalog, e.g. ap-southeast-3 (AWS) or "
                        "asia-southeast1 (GCP).")
    cost_center: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/=+@-]+$",
        description="Billing owner; becomes the cost-center tag on every resource.",
    )
    monthly_budget_usd: float | None = Field(None, gt=0, description="GPU budget the spend policy checks, reserved "
                                             "nodes included whether used or not. Default: no cap.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags, merged last onto every resource "
                                 "(AWS limits apply, as in phase1_mvp).")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: dict[Name, GpuPoolConfig] = Field(min_length=1, description="GPU node groups keyed by name; "
                                                 "reservation puts one on reserved capacity (docs/multinode.md).")
    models: dict[Name, Phase3ModelConfig] = Field(
        min_length=1, description="Served models keyed by name; nodes > 1 serves one across nodes on a LeaderWorkerSet "
        "(docs/multinode.md); disaggregation splits one into prefill and decode pools (docs/routing.md).")
    gateway: GatewayConfig
    weight_cache: WeightCacheConfig = Field(default_factory=WeightCacheConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig)
    serving_priority: bool = Field(True, description="Create the strait-serving and strait-batch PriorityClasses and "
                                   "run every model server at strait-serving, so that a short GPU pool evicts batch "
                                   "work, never a server (components/k8s/priority.py). Default: true.")
    gcp: GcpConfig | None = Field(None, description="Google Cloud settings; required with cloud: gcp. Default: none.")
    accepted_advisories: AcceptedAdvisories = Field(default_factory=dict)

    @field_validator("tags")
    @classmethod
    def _tags(cls, v: dict[str, str]) -> dict[str, str]:
        issues = aws_tag_issues(v)
        if issues:
            raise issues_error(issues)
        return v

    @model_validator(mode="after")
    def _against_catalog(self) -> "Phase3Config":
        cat = load_catalog()
        issues = check_platform(self, cat) + check_gcp(self, cat) + check_observability(self)
        if issues:
            raise issues_error(issues)
        return self

