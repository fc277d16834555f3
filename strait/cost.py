"""Monthly cost estimate from a plan's resources and the catalog's dated prices (Infracost-style).

A month is 730 hours. Each cost component carries its quantity, unit price, monthly cost, and the
source and date of the price. A price the catalog does not have is reported as unknown, never as 0.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from strait.catalog import Catalog

HOURS_PER_MONTH = 730


@dataclass(frozen=True)
class CostComponent:
    resource: str
    """Resource name (URN tail)."""
    resource_type: str
    name: str
    unit: str
    monthly_quantity: float
    """At the expected (desired) size."""
    unit_price_usd: float | None
    monthly_cost_usd: float | None
    monthly_cost_max_usd: float | None
    """At the worst case (max size) for scalable resources."""
    price_source: str | None = None
    price_as_of: str | None = None

    @property
    def price_known(self) -> bool:
        return self.unit_price_usd is not None


@dataclass
class CostEstimate:
    region: str
    components: list[CostComponent] = field(default_factory=list)

    @property
    def unknown(self) -> list[CostComponent]:
        return [c for c in self.components if not c.price_known]

    def total(self, worst: bool = False) -> float:
        key = "monthly_cost_max_usd" if worst else "monthly_cost_usd"
        return round(sum(getattr(c, key) or 0.0 for c in self.components), 2)

    def as_json(self) -> dict[str, Any]:
        return {"region": self.region, "hours_per_month": HOURS_PER_MONTH,
                "total_monthly_cost_usd": self.total(), "total_monthly_cost_max_usd": self.total(worst=True),
                "unknown_prices": len(self.unknown),
                "components": [asdict(c) for c in self.components]}


def _service(cat: Catalog, key: str, region: str):
    svc = cat.services.get(key)
    return None if svc is None else svc.regions.get(region)


def estimate(resources: Iterable[Any], region: str, cat: Catalog) -> CostEstimate:
    """``resources`` are plan ResourceRecords (type, name, inputs)."""
    est = CostEstimate(region=region)
    for r in resources:
        if r.type == "aws:eks/nodeGroup:NodeGroup":
            est.components.append(_node_group(r, region, cat))
        elif r.type == "aws:eks/cluster:Cluster":
            p = _service(cat, "eks-control-plane", region)
            est.components.append(_hourly(r, "EKS control plane", p))
        elif r.type == "aws:ec2/natGateway:NatGateway":
            p = _service(cat, "nat-gateway-hour", region)
            est.components.append(_hourly(r, "NAT gateway", p))
    return est


def _hourly(r: Any, name: str, price) -> CostComponent:
    unit = None if price is None else price.usd
    cost = None if unit is None else round(unit * HOURS_PER_MONTH, 2)
    return CostComponent(resource=r.name, resource_type=r.type, name=name, unit="hours", monthly_quantity=HOURS_PER_MONTH,
                         unit_price_usd=unit, monthly_cost_usd=cost, monthly_cost_max_usd=cost,
                         price_source=None if price is None else price.source,
                         price_as_of=None if price is None else str(price.as_of))


def node_group_price(instance_types: list[str], capacity: str, region: str, cat: Catalog):
    """Worst (highest) known price among the group's types, and the offer it came from; None if any is unknown."""
    worst = None
    for it in instance_types:
        offer = cat.offer(it, region)
        price = offer.hourly_usd(capacity) if offer else None
        if price is None:
            return None, offer
        if worst is None or price > worst[0]:
            worst = (price, offer)
    return worst if worst else (None, None)


def _node_group(r: Any, region: str, cat: Catalog) -> CostComponent:
    inp = r.inputs
    types = list(inp.get("instanceTypes") or [])
    capacity = "spot" if inp.get("capacityType") == "SPOT" else "on_demand"
    sc = inp.get("scalingConfig") or {}
    desired, mx = int(sc.get("desiredSize", 0)), int(sc.get("maxSize", 0))
    price, offer = node_group_price(types, capacity, region, cat)
    label = f"Instance usage (Linux, {capacity.replace('_', '-')}, {', '.join(types)})"
    if price is None:
        return CostComponent(resource=r.name, resource_type=r.type, name=label, unit="hours",
                             monthly_quantity=desired * HOURS_PER_MONTH, unit_price_usd=None, monthly_cost_usd=None,
                             monthly_cost_max_usd=None)
    return CostComponent(
        resource=r.name, resource_type=r.type, name=label, unit="hours", monthly_quantity=desired * HOURS_PER_MONTH,
        unit_price_usd=price, monthly_cost_usd=round(price * desired * HOURS_PER_MONTH, 2),
        monthly_cost_max_usd=round(price * mx * HOURS_PER_MONTH, 2),
        price_source=offer.price.source, price_as_of=str(offer.price.as_of))
