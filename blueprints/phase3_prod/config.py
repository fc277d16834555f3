"""Config model of the phase-3 production blueprint: phase 1's sections, where a model may span several nodes
(``models.<m>.nodes``: vLLM's multi-node mode on a LeaderWorkerSet) and a GPU pool may sit on reserved capacity
(``gpu_pools.<p>.reservation``), plus serving above batch (pod priority classes) and alerts that reach a person
(``observability.alerting``)."""
from __future__ import annotations

from typing import ClassVar, Literal

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
    models: dict[Name, ModelConfig] = Field(min_length=1, description="Served models keyed by name; nodes > 1 serves "
                                            "one across nodes on a LeaderWorkerSet (docs/multinode.md).")
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

