"""Config model of the phase-2 scale blueprint: phase 1's sections, plus queue-depth autoscaling (KEDA) and
spot pools with an on-demand fallback of the same GPU."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from strait.catalog import Catalog, load_catalog
from strait.config.advisories import AcceptedAdvisories
from strait.config.autoscaling import check_queue_autoscaling
from strait.config.checks import check_platform
from strait.config.errors import ConfigIssue, issues_error
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
    QueueAutoscalingConfig,
    StrictModel,
    WeightCacheConfig,
)
from strait.tags import aws_tag_issues


class Phase2Config(StrictModel):
    """`strait:*` keys of a phase-2 stack. Every key is checked before any resource exists."""

    MANAGES_DATABASE: ClassVar[bool] = True
    """gateway.spend_tracking gets the cloud's private managed Postgres (``Platform.database``), not a user's URL."""

    blueprint: Literal["phase2_scale"]
    cloud: Literal["aws", "gcp"] = Field("aws", description="Which cloud builds the platform: aws (EKS, S3) or gcp "
                                         "(GKE, GCS; needs the gcp section). Default: aws.")
    region: str = Field(description="Region code of that cloud from the catalog, e.g. ap-southeast-3 (AWS) or "
                        "asia-southeast1 (GCP).")
    cost_center: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.:/=+@-]+$",
        description="Billing owner; becomes the cost-center tag on every resource.",
    )
    monthly_budget_usd: float | None = Field(None, gt=0, description="GPU budget the spend policy checks. Default: no cap.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags, merged last onto every resource "
                                 "(AWS limits apply, as in phase1_mvp).")
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    gpu_pools: dict[Name, GpuPoolConfig] = Field(min_length=1, description="GPU node groups keyed by name.")
    models: dict[Name, ModelConfig] = Field(min_length=1, description="Served models keyed by name.")
    gateway: GatewayConfig
    weight_cache: WeightCacheConfig = Field(default_factory=WeightCacheConfig)
    observability: ObservabilityConfig = Field(default_factory=ObservabilityConfig)
    autoscaler: AutoscalerConfig = Field(default_factory=AutoscalerConfig)
    queue_autoscaling: QueueAutoscalingConfig = Field(
        description="KEDA scales each listed model server on its engine's queue, with a business-hours cron floor "
                    "and a warm standby (docs/autoscaling.md#keda).")
    on_demand_fallback: dict[Name, Name] = Field(
        default_factory=dict, description="Model key -> an on-demand GPU pool with the same GPU as the model's own "
        "(spot) pool. The model's pods prefer spot nodes and schedule on the on-demand pool when spot capacity is "
        "gone (preferred node affinity on capacity, required on the two pools; the node autoscaler's spot-first "
        "priority or GKE's ComputeClass grows the right pool). Default: none, each model stays on its pool.")
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
    def _against_catalog(self) -> "Phase2Config":
        cat = load_catalog()
        issues = (check_platform(self, cat) + check_gcp(self, cat) + check_observability(self)
                  + check_queue_autoscaling(self.queue_autoscaling, self.models, self.gpu_pools, cat)
                  + check_fallback(self, cat))
        if issues:
            raise issues_error(issues)
        return self


def check_fallback(cfg: Phase2Config, cat: Catalog) -> list[ConfigIssue]:
    """Each fallback names a model, and an on-demand pool whose GPU is that of the model's own spot pool."""
    out: list[ConfigIssue] = []
    for key, fb in sorted(cfg.on_demand_fallback.items()):
        path = f"on_demand_fallback.{key}"
        m = cfg.models.get(key)
        if m is None:
            out.append(ConfigIssue(path, key, "not a model of this stack",
                                   f"use one of the keys of models: {', '.join(sorted(cfg.models))}"))
            continue
        own, other = cfg.gpu_pools.get(m.pool), cfg.gpu_pools.get(fb)
        if own is None or other is None:
            if other is None:
                out.append(ConfigIssue(path, fb, "not a GPU pool of this stack",
                                       f"use one of the keys of gpu_pools: {', '.join(sorted(cfg.gpu_pools))}"))
            continue
        if own.capacity != "spot" or other.capacity != "on_demand":
            out.append(ConfigIssue(path, fb, f"the model's pool {m.pool} is {own.capacity} and {fb} is "
                                   f"{other.capacity}; a fallback goes from a spot pool to an on-demand one",
                                   f"set gpu_pools.{m.pool}.capacity: spot and gpu_pools.{fb}.capacity: on_demand"))
        gpus = {(cat.instance_types[t].gpu, cat.instance_types[t].gpu_count)
                for t in (*own.instance_types, *other.instance_types) if t in cat.instance_types}
        if len(gpus) > 1:
            out.append(ConfigIssue(path, fb, f"pools {m.pool} and {fb} have different GPUs per node "
                                   f"({', '.join(f'{n}x {g}' for g, n in sorted(gpus))}); the same server cannot "
                                   "run on both", "give the fallback pool instance types with the same GPUs"))
    return out
