"""The rules see GKE resources through policies/views: node pools (machine type, Spot, total min/max,
labels, region from the gcp Provider) and the control plane's endpoint. Table-driven on hand-made records."""
from __future__ import annotations

import pytest

from policies import rules, views as v
from strait.catalog import load_catalog
from strait.gpu_labels import pool_labels

GCP = v.Res(urn="urn:gcp", type=v.GCP_PROVIDER, name="gcp", props={"region": "asia-southeast1", "project": "p"})


def pool(machine="a2-highgpu-2g", spot=False, lo=2, hi=3, initial=0, zones=3, autoscaling=True, labels=None):
    props = {"nodeConfig": {"machineType": machine, "spot": spot,
                            "labels": labels if labels is not None else pool_labels("a", "A100-40GB", "on_demand")},
             "nodeLocations": [f"asia-southeast1-{z}" for z in "abc"[:zones]], "initialNodeCount": initial}
    if autoscaling:
        props["autoscaling"] = {"totalMinNodeCount": lo, "totalMaxNodeCount": hi, "locationPolicy": "BALANCED"}
    else:
        props["nodeCount"] = initial
    return v.Res(urn="urn:np", type=v.GKE_NODE_POOL, name="gpu-a-np", props=props, provider_type=v.GCP_PROVIDER,
                 provider_props=GCP.props)


@pytest.mark.parametrize("res,expect", [
    (pool(), ("on_demand", 2, 2, 3)),
    (pool(spot=True, lo=0, hi=4), ("spot", 0, 0, 4)),
    (pool(initial=1, lo=0, hi=6), ("on_demand", 0, 3, 6)),          # 1 per zone x 3 zones to start
    (pool(autoscaling=False, initial=1, zones=2), ("on_demand", 2, 2, 2)),  # fixed: 1 per zone x 2 zones
])
def test_gke_node_pool_view(res, expect):
    p = v.node_pool(res)
    assert (p.capacity, p.min_size, p.desired_size, p.max_size) == expect
    assert p.instance_types == ("a2-highgpu-2g",) and p.region == "asia-southeast1"
    assert v.instance_types_of(res) == ["a2-highgpu-2g"] and v.stack_region([GCP]) == "asia-southeast1"


def test_spend_and_offered_in_region_rules_read_gke_pools():
    cat = load_catalog()
    ctx = rules.Ctx(catalog=cat)
    spend = rules.gpu_spend_totals([pool()], cat)
    assert spend["worst_monthly_usd"] == round(8.027515852 * 3 * 730, 2)
    assert spend["expected_monthly_usd"] == round(8.027515852 * 2 * 730, 2)
    assert rules.check_gpu_spend([pool()], {"monthly_budget_usd": 17000}, ctx)
    assert not rules.check_gpu_spend([pool()], {"monthly_budget_usd": 18000}, ctx)
    assert rules.check_offered_in_region(pool(), {}, ctx) == []
    assert rules.check_offered_in_region(pool(machine="g4dn.12xlarge"), {}, ctx) == [
        "instance type g4dn.12xlarge is not offered in asia-southeast1 according to the catalog; use one offered "
        "there: " + ", ".join(cat.offered_in("asia-southeast1"))]


@pytest.mark.parametrize("props,public,cidrs", [
    ({"privateClusterConfig": {"enablePrivateEndpoint": True}}, False, ()),
    ({"privateClusterConfig": {"enablePrivateEndpoint": False},
      "masterAuthorizedNetworksConfig": {"cidrBlocks": [{"cidrBlock": "203.0.113.0/24"}]}}, True, ("203.0.113.0/24",)),
    ({"privateClusterConfig": {"enablePrivateEndpoint": False}}, True, ("0.0.0.0/0",)),  # no authorised networks
])
def test_gke_endpoint_view_and_advisory(props, public, cidrs):
    res = v.Res(urn="urn:c", type=v.GKE_CLUSTER, name="cluster-gke", props=props)
    ep = v.api_endpoint(res)
    assert (ep.public, ep.public_cidrs) == (public, cidrs)
    found = rules.check_api_endpoint_public(res, {"min_prefix_length": 16}, rules.Ctx(catalog=load_catalog()))
    assert bool(found) is (cidrs == ("0.0.0.0/0",))
