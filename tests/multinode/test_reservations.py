"""Reserved capacity: the pure checks (exact problems), the AWS pool (ODCR created and targeted, Capacity Block
by id with its market type and node group capacity type), the GKE pool (a specific reservation and the pool's
affinity to it), and pricing: the spend policy and the cost report charge reserved nodes whether used or not."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws
import pulumi_gcp as gcp
import pytest

from components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.gcp.gpu_node_pool import GpuNodePool as GkePool, GpuNodePoolArgs as GkePoolArgs
from policies import rules, views
from strait import cost
from strait.catalog import load_catalog
from strait.plan.mocks import GCP_PROJECT
from strait.reservations import (
    GCP_RESERVED_NODES_LABEL,
    RESERVED_NODES_TAG,
    RESERVED_PRICE_TAG,
    Reservation,
    reservation_problems,
)
from tests.helpers import of_type, one

CAT = load_catalog()


def problems(r: Reservation, cloud="aws", types=("p5.48xlarge",), capacity="on_demand", lo=2, hi=4):
    return reservation_problems(r, cloud=cloud, instance_types=list(types), capacity=capacity, min_size=lo, max_size=hi)


def test_a_good_odcr_has_no_problem():
    assert problems(Reservation(kind="odcr", instance_count=2, zone="ap-southeast-3a")) == []


@pytest.mark.parametrize("r, kw, expected", [
    (Reservation(kind="gke", instance_count=2, zone="z"), {}, ("kind", "gke", "is not a AWS reservation")),
    (Reservation(kind="odcr", instance_count=2, zone="z"), {"capacity": "spot"},
     ("kind", "odcr", "reserved capacity cannot back a spot pool")),
    (Reservation(kind="odcr", instance_count=2, zone="z"), {"types": ("p5.48xlarge", "p4d.24xlarge")},
     ("instance_count", 2, "a reservation holds one instance type but the pool lists 2 (p5.48xlarge, p4d.24xlarge)")),
    (Reservation(kind="odcr", instance_count=5, zone="z"), {"lo": 5, "hi": 4},
     ("instance_count", 5, "reserves more nodes than the pool's max_size 4; the rest would be paid for and never used")),
    (Reservation(kind="odcr", instance_count=3, zone="z"), {},
     ("instance_count", 3, "the pool may shrink to min_size 2 but reserved capacity is billed whether a node runs in it or not")),
    (Reservation(kind="capacity_block", instance_count=2, usd_per_hour=31.464), {"lo": 0},
     ("existing_id", None, "a Capacity Block is bought ahead (EC2 PurchaseCapacityBlock), not created here")),
    (Reservation(kind="capacity_block", instance_count=2, existing_id="cr-0123456789abcdef0"), {"lo": 0},
     ("usd_per_hour", None, "a Capacity Block's price is fixed at purchase and is not in the catalog")),
    (Reservation(kind="odcr", instance_count=2), {}, ("zone", None, "a reservation Strait creates is zonal")),
    (Reservation(kind="odcr", instance_count=2, existing_id="my-res"), {},
     ("existing_id", "my-res", "is not an EC2 capacity reservation id (cr-...)")),
])
def test_each_problem_is_reported(r, kw, expected):
    found = problems(r, **kw)
    assert [p[:3] for p in found] == [expected]


def _run_aws(fn):
    @pulumi.runtime.test
    def inner():
        return fn(pulumi.ResourceOptions(providers={"aws": aws.Provider("aws", region="ap-southeast-3")}))
    inner()


def _aws_pool(o, reservation, lo=2):
    return GpuNodePool("gpu-h100", "h100", GpuNodePoolArgs(
        cluster_name="c1", node_role_arn="arn:role", subnet_ids=["subnet-a"], instance_types=["p5.48xlarge"],
        gpu_model="H100-80GB", min_size=lo, max_size=4, desired_size=lo, tags={"stack": "t"}, reservation=reservation),
        opts=o).urn


def test_aws_odcr_is_created_targeted_and_tagged(monitor):
    _run_aws(lambda o: _aws_pool(o, Reservation(kind="odcr", instance_count=2, zone="ap-southeast-3a")))
    cr = one(monitor, "aws:ec2/capacityReservation:CapacityReservation")
    assert {k: cr.inputs[k] for k in ("instanceType", "instanceCount", "availabilityZone", "instanceMatchCriteria",
                                      "instancePlatform", "endDateType")} == {
        "instanceType": "p5.48xlarge", "instanceCount": 2, "availabilityZone": "ap-southeast-3a",
        "instanceMatchCriteria": "targeted", "instancePlatform": "Linux/UNIX", "endDateType": "unlimited"}
    lt = one(monitor, "aws:ec2/launchTemplate:LaunchTemplate")
    assert "capacityReservationId" in lt.inputs["capacityReservationSpecification"]["capacityReservationTarget"]
    assert "instanceMarketOptions" not in lt.inputs
    ng = one(monitor, "aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["capacityType"] == "ON_DEMAND" and ng.inputs["tags"][RESERVED_NODES_TAG] == "2"


def test_aws_capacity_block_is_targeted_by_id(monitor):
    _run_aws(lambda o: _aws_pool(o, Reservation(kind="capacity_block", instance_count=2,
                                                existing_id="cr-0123456789abcdef0", usd_per_hour=31.464), lo=0))
    assert not of_type(monitor, "aws:ec2/capacityReservation:CapacityReservation")
    lt = one(monitor, "aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.inputs["capacityReservationSpecification"] == {
        "capacityReservationTarget": {"capacityReservationId": "cr-0123456789abcdef0"}}
    assert lt.inputs["instanceMarketOptions"] == {"marketType": "capacity-block"}
    ng = one(monitor, "aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["capacityType"] == "CAPACITY_BLOCK"
    assert ng.inputs["tags"][RESERVED_PRICE_TAG] == "31.464"


def test_aws_pool_refuses_a_bad_reservation_before_any_child(monitor):
    with pytest.raises(ValueError, match="reservation of pool 'h100': instance_count 3: the pool may shrink"):
        _run_aws(lambda o: _aws_pool(o, Reservation(kind="odcr", instance_count=3, zone="ap-southeast-3a")))
    assert not of_type(monitor, "aws:eks/nodeGroup:NodeGroup")


def test_gke_reservation_and_affinity(monitor):
    from tests.components.test_gcp_components import _cluster

    @pulumi.runtime.test
    def inner():
        o = pulumi.ResourceOptions(providers={"gcp": gcp.Provider("gcp", project=GCP_PROJECT, region="asia-southeast1")})
        cluster = _cluster(o)
        return GkePool("gpu-h100", "h100", cluster, GkePoolArgs(
            machine_type="a3-highgpu-8g", gpu_model="H100-80GB", gpus_per_node=8,
            zones=["asia-southeast1-b", "asia-southeast1-c"], min_nodes=2, max_nodes=3, labels={"stack": "t"},
            reservation=Reservation(kind="gke", instance_count=2, zone="asia-southeast1-b")), opts=o).urn
    inner()
    r = one(monitor, "gcp:compute/reservation:Reservation")
    assert r.inputs["zone"] == "asia-southeast1-b" and r.inputs["specificReservationRequired"] is True
    assert r.inputs["specificReservation"] == {"count": 2, "instanceProperties": {"machineType": "a3-highgpu-8g"}}
    (np,) = [n for n in of_type(monitor, "gcp:container/nodePool:NodePool") if n.name == "gpu-h100-np"]
    assert np.inputs["nodeLocations"] == ["asia-southeast1-b"]
    assert np.inputs["nodeConfig"]["reservationAffinity"] == {
        "consumeReservationType": "SPECIFIC_RESERVATION", "key": "compute.googleapis.com/reservation-name",
        "values": [r.inputs["name"]]}
    assert np.inputs["nodeConfig"]["resourceLabels"][GCP_RESERVED_NODES_LABEL] == "2"


def test_gke_pool_refuses_a_reservation_outside_its_zones():
    with pytest.raises(ValueError, match="reservation.zone: 'asia-southeast1-a' is not one of the pool's zones"):
        GkePool("x", "x", None, GkePoolArgs(machine_type="a3-highgpu-8g", gpu_model="H100-80GB", gpus_per_node=8,
                                            zones=["asia-southeast1-b"], min_nodes=2, max_nodes=2, labels={},
                                            reservation=Reservation(kind="gke", instance_count=2, zone="asia-southeast1-a")))


# --- pricing --------------------------------------------------------------------------------------------
def node_group(desired: int, mx: int, tags: dict) -> views.Res:
    return views.Res(urn="urn:ng", type=views.NODE_GROUP, name="gpu-h100-ng", props={
        "instanceTypes": ["p5.48xlarge"], "capacityType": "ON_DEMAND", "tags": tags,
        "scalingConfig": {"minSize": desired, "desiredSize": desired, "maxSize": mx},
        "labels": {"strait.dev/gpu": "H100-80GB"}}, provider_type="pulumi:providers:aws",
        provider_props={"region": "ap-southeast-3"})


def test_spend_charges_reserved_nodes_even_when_the_pool_is_smaller():
    (p,) = rules.pool_costs([node_group(0, 4, {RESERVED_NODES_TAG: "2"})], CAT)
    assert (p.desired, p.max_nodes, p.hourly_usd) == (2, 4, 75.9552)
    (q,) = rules.pool_costs([node_group(0, 1, {RESERVED_NODES_TAG: "2"})], CAT)
    assert q.max_nodes == 2  # a reservation larger than the pool is still paid in full


def test_a_capacity_block_is_priced_at_its_purchase_price():
    res = node_group(0, 2, {RESERVED_NODES_TAG: "2", RESERVED_PRICE_TAG: "31.464"})
    (p,) = rules.pool_costs([res], CAT)
    assert (p.desired, p.hourly_usd) == (2, 31.464)
    found = rules.check_gpu_spend([res], {"monthly_budget_usd": 40000}, rules.Ctx(catalog=CAT))
    assert found and "worst-case GPU spend $45,937/month" in found[0][0]  # 2 x 31.464 x 730
    comp = cost._node_group(views.node_pool(res), "ap-southeast-3", CAT)
    assert (comp.monthly_cost_usd, comp.monthly_cost_max_usd) == (45937.44, 45937.44)
    assert comp.name.endswith("2 reserved") and "Capacity Block purchase price" in comp.price_source


def test_gke_reserved_label_is_read():
    res = views.Res(urn="urn:np", type=views.GKE_NODE_POOL, name="np", props={
        "nodeLocations": ["asia-southeast1-b"], "initialNodeCount": 0,
        "autoscaling": {"totalMinNodeCount": 0, "totalMaxNodeCount": 3},
        "nodeConfig": {"machineType": "a3-highgpu-8g", "resourceLabels": {GCP_RESERVED_NODES_LABEL: "2"}}})
    pool = views.node_pool(res)
    assert (pool.reserved_nodes, pool.billed_desired, pool.billed_max) == (2, 2, 3)
