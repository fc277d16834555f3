"""The catalog: dated, sourced facts about regions, GPUs, instance types, models and images.

Facts that go stale live in ``data/*.yaml``; this module only loads and indexes them.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from strait.catalog.schema import (
    GkeVersion,
    Gpu,
    ImagePin,
    InstanceType,
    KubernetesVersion,
    ModelArch,
    Region,
    RegionPrice,
    ServicePrice,
    Variant,
)

DATA_DIR = Path(__file__).parent / "data"

#: A price entry older than this is reported as stale (config warning, policy warning).
PRICE_MAX_AGE_DAYS = 180

__all__ = [
    "Catalog",
    "DATA_DIR",
    "PRICE_MAX_AGE_DAYS",
    "Offer",
    "load_catalog",
]


@dataclass(frozen=True)
class Offer:
    """An instance type as offered in one region."""

    instance: InstanceType
    instance_type: str
    region: str
    price: RegionPrice

    def hourly_usd(self, capacity: str) -> float | None:
        """Price for ``capacity`` ("spot" or "on_demand"); None when the catalog has no price."""
        return self.price.spot_usd_per_hour if capacity == "spot" else self.price.on_demand_usd_per_hour


#: libyaml's C loader when PyYAML has it (10x faster on the catalog), else the pure-Python one.
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(name: str) -> dict:
    with open(DATA_DIR / name, encoding="utf-8") as fh:
        return yaml.load(fh, Loader=SafeLoader) or {}


@dataclass(frozen=True)
class Catalog:
    regions: dict[str, Region]
    gpus: dict[str, Gpu]
    instance_types: dict[str, InstanceType]
    models: dict[str, ModelArch]
    kubernetes_versions: dict[str, KubernetesVersion]
    images: dict[str, ImagePin]
    services: dict[str, ServicePrice]
    gke_versions: dict[str, GkeVersion] = dataclasses.field(default_factory=dict)

    # -- lookups -----------------------------------------------------------------------
    def offer(self, instance_type: str, region: str) -> Offer | None:
        it = self.instance_types.get(instance_type)
        if it is None or region not in it.regions:
            return None
        return Offer(instance=it, instance_type=instance_type, region=region, price=it.regions[region])

    def offered_in(self, region: str, gpu: bool | None = True) -> list[str]:
        """Instance types offered in ``region``: GPU types (gpu=True), CPU types (False) or all (None)."""
        return sorted(
            name
            for name, it in self.instance_types.items()
            if region in it.regions and (gpu is None or (it.gpu is not None) == gpu)
        )

    def gpu_of(self, instance_type: str) -> Gpu | None:
        it = self.instance_types.get(instance_type)
        if it is None or it.gpu is None:
            return None
        return self.gpus[it.gpu]

    def variant(self, model: str, quantization: str) -> Variant | None:
        arch = self.models.get(model)
        return None if arch is None else arch.variants.get(quantization)

    def image(self, key: str) -> str:
        pin = self.images[key]
        # With both, the runtime pulls by digest; the tag stays for people reading the manifest.
        return f"{pin.repository}:{pin.tag}" + (f"@{pin.digest}" if pin.digest else "")

    def stale_prices(self, today: dt.date | None = None, max_age_days: int = PRICE_MAX_AGE_DAYS) -> list[tuple[str, str, RegionPrice]]:
        """(instance_type, region, price) entries whose ``as_of`` is older than ``max_age_days``."""
        today = today or dt.date.today()
        out = []
        for name, it in sorted(self.instance_types.items()):
            for region, price in sorted(it.regions.items()):
                if (today - price.as_of).days > max_age_days:
                    out.append((name, region, price))
        return out


@functools.lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Load and validate every data file once per process."""
    instances: dict[str, InstanceType] = {}
    for fname in sorted(p.name for p in DATA_DIR.glob("instances_*.yaml")):
        for name, raw in (_load(fname).get("instance_types") or {}).items():
            if name in instances:
                raise ValueError(f"instance type {name!r} is defined twice (second time in {fname})")
            instances[name] = InstanceType(**raw)
    gpus = {k: Gpu(**v) for k, v in _load("gpus.yaml")["gpus"].items()}
    for name, it in instances.items():
        if it.gpu is not None and it.gpu not in gpus:
            raise ValueError(f"instance type {name!r} names GPU {it.gpu!r}, which gpus.yaml does not define")
    return Catalog(
        regions={k: Region(**v) for k, v in _load("regions.yaml")["regions"].items()},
        gpus=gpus,
        instance_types=instances,
        models={k: ModelArch(**v) for k, v in _load("models.yaml")["models"].items()},
        kubernetes_versions={str(k): KubernetesVersion(**v) for k, v in _load("kubernetes.yaml")["eks"].items()},
        images={k: ImagePin(**v) for k, v in _load("images.yaml")["images"].items()},
        services={k: ServicePrice(**v) for f in sorted(DATA_DIR.glob("services_*.yaml"))
                  for k, v in (_load(f.name).get("services") or {}).items()},
        gke_versions={str(k): GkeVersion(**v) for k, v in (_load("kubernetes.yaml").get("gke") or {}).items()},
    )
