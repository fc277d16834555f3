"""Reserved GPU capacity for a node pool: EC2 On-Demand Capacity Reservations, EC2 Capacity Blocks for ML, and
Compute Engine reservations consumed by a GKE node pool. Pure: typed values, their checks, and the tags/labels
that tell the cost report and the spend policy (which read only the plan's resources) what is reserved.

A reservation is billed whether a node runs in it or not: an ODCR and a GKE reservation at the on-demand rate
for every reserved instance, a Capacity Block at the price fixed when it was bought, for its whole duration.
So the spend policy and the cost report price a reserved pool at no fewer than its reserved nodes, and Strait
requires ``min_size >= instance_count`` for ODCRs and GKE reservations (idle reserved capacity costs the same as
a running node; run it). Capacity Blocks are bought ahead (EC2 PurchaseCapacityBlock; no Pulumi resource creates
one), so the pool names the block's ``cr-`` id and states its price, and may sit at 0 nodes until it starts.

Sources (read 2026-11-30): EKS user guide "Create a managed node group with Capacity Blocks for ML" (launch
template ``InstanceMarketOptions.MarketType: capacity-block``, ``CapacityReservationTarget.CapacityReservationId``,
the instance type in the launch template, set desired size 0 before the block starts; node group
``capacityType: CAPACITY_BLOCK``, terraform-aws-eks v20.17.0 / aws-ia EKS blueprints ml-capacity-block pattern,
which also restricts the node group's subnets to the block's AZ); Pulumi ``aws.ec2.CapacityReservation`` and
``gcp.compute.Reservation``; GKE node pool ``reservation_affinity`` (``SPECIFIC_RESERVATION`` with key
``compute.googleapis.com/reservation-name``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ReservationKind = Literal["odcr", "capacity_block", "gke"]
AWS_KINDS = ("odcr", "capacity_block")

#: On the EKS node group (AWS tags) and the GKE node pool (resource labels): how many nodes are reserved, and
#: the price per reserved instance hour when it is not the catalog's on-demand price (Capacity Blocks).
RESERVED_NODES_TAG = "strait.dev/reserved-nodes"
RESERVED_PRICE_TAG = "strait.dev/reserved-usd-per-hour"
GCP_RESERVED_NODES_LABEL = "strait-reserved-nodes"
#: The GKE label key a node pool targets a specific reservation by (reservation_affinity.key).
GKE_RESERVATION_KEY = "compute.googleapis.com/reservation-name"
_AWS_ID = re.compile(r"^cr-[0-9a-f]{8,17}$")
_GCP_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class Reservation:
    kind: ReservationKind
    """'odcr' (EC2 On-Demand Capacity Reservation), 'capacity_block' (EC2 Capacity Blocks for ML) or 'gke'
    (a Compute Engine reservation a GKE node pool consumes)."""
    instance_count: int
    """Reserved instances (nodes)."""
    zone: str | None = None
    """Availability zone / GCP zone of a reservation Strait creates (reservations are zonal)."""
    existing_id: str | None = None
    """Use this reservation instead of creating one: an EC2 ``cr-`` id (required for a Capacity Block) or a
    GCP reservation name."""
    usd_per_hour: float | None = None
    """Price per reserved instance hour when it is not the catalog's on-demand price (a Capacity Block's
    purchase price). Required for a Capacity Block."""

    @property
    def created_by_strait(self) -> bool:
        return self.existing_id is None


def reservation_problems(r: Reservation, *, cloud: str, instance_types: list[str], capacity: str, min_size: int,
                         max_size: int) -> list[tuple[str, object, str, str]]:
    """Every problem, as (field, value, what is wrong, fix); empty when the reservation fits its pool."""
    out: list[tuple[str, object, str, str]] = []
    add = lambda *p: out.append(p)  # noqa: E731
    if (cloud == "aws") != (r.kind in AWS_KINDS):
        add("kind", r.kind, f"is not a {cloud.upper()} reservation",
            "use odcr or capacity_block on AWS, gke on GCP")
        return out
    if capacity != "on_demand":
        add("kind", r.kind, f"reserved capacity cannot back a {capacity} pool", "set the pool's capacity: on_demand")
    if len(instance_types) != 1:
        add("instance_count", r.instance_count, f"a reservation holds one instance type but the pool lists "
            f"{len(instance_types)} ({', '.join(instance_types)})", "list exactly one instance type in the pool")
    if r.instance_count > max_size:
        add("instance_count", r.instance_count, f"reserves more nodes than the pool's max_size {max_size}; the rest "
            "would be paid for and never used", f"raise max_size to {r.instance_count} or reserve {max_size}")
    if r.kind != "capacity_block" and min_size < r.instance_count:
        add("instance_count", r.instance_count, f"the pool may shrink to min_size {min_size} but reserved capacity is "
            "billed whether a node runs in it or not", f"set min_size to at least {r.instance_count}")
    if r.kind == "capacity_block":
        if r.existing_id is None:
            add("existing_id", None, "a Capacity Block is bought ahead (EC2 PurchaseCapacityBlock), not created here",
                "set existing_id to the block's cr- id")
        if r.usd_per_hour is None:
            add("usd_per_hour", None, "a Capacity Block's price is fixed at purchase and is not in the catalog",
                "set usd_per_hour to the purchase price per instance hour")
    if r.existing_id is None and r.kind != "capacity_block" and not r.zone:
        add("zone", None, "a reservation Strait creates is zonal", "set zone to one of the region's zones")
    if r.existing_id is not None:
        pattern = _AWS_ID if cloud == "aws" else _GCP_NAME
        if not pattern.match(r.existing_id):
            add("existing_id", r.existing_id, "is not an EC2 capacity reservation id (cr-...)" if cloud == "aws"
                else "is not a GCP reservation name", "copy the id/name from the console or the CLI")
    return out


def reservation_tags(r: Reservation) -> dict[str, str]:
    """AWS tags on the node group (read by the cost report and the spend policy)."""
    tags = {RESERVED_NODES_TAG: str(r.instance_count)}
    if r.usd_per_hour is not None:
        tags[RESERVED_PRICE_TAG] = f"{r.usd_per_hour:g}"
    return tags
