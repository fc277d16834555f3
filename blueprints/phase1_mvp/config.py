"""Config model of the phase-1 MVP blueprint: one EKS cluster, GPU pools, vLLM models and a gateway."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from strait.catalog import load_catalog
from strait.config.advisories import AcceptedAdvisories
from strait.config.checks import check_platform
from strait.config.errors import issues_error
from strait.config.gcp import GcpConfig, check_gcp
from strait.config.observability import ObservabilityConfig, check_observability
from strait.tags import aws_tag_issues
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


class Phase1Config(StrictModel):
    """`strait:*` keys of a phase-1 stack. Every key is checked before any resource exists."""

    blueprint: Literal["phase1_mvp"]
    cloud: Literal["aws", "gcp"] = Field("aws", description="Which cloud builds the platform: aws (EKS, S3) or gcp "
                                         "(GKE, GCS; needs the gcp section). Default: aws.")
    region: str = Field(description="Region code of that cloud from the catalog, e.g. ap-southeast-1 (AWS) or "
                        "asia-southeast1 (GCP).")
    cost_center: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/=+@-]+$",
        description="Billing owner; becomes the cost-center tag on every resource.",
    )
    monthly_budget_usd: float | None = Field(None, gt=0, description="GPU budget the spend policy checks. Default: no cap.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags, merged last onto every resource. "
                                 "AWS limits apply: at most 50 per resource including Strait's own (so 35 here), keys "
                                 "up to 128 and values up to 256 characters, no `aws:` prefix.")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: dict[Name, GpuPoolConfig] = Field(min_length=1, description="GPU node groups keyed by name.")
    models: dict[Name, ModelConfig] = Field(min_length=1, description="Served models keyed by name.")
    gateway: GatewayConfig
    weight_cache: WeightCacheConfig = Field(default_factory=WeightCacheConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig)
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
    def _against_catalog(self) -> "Phase1Config":
        cat = load_catalog()
        issues = check_platform(self, cat) + check_gcp(self, cat) + check_observability(self)
        if issues:
            raise issues_error(issues)
        return self
