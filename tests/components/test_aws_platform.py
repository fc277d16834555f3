"""build_aws_platform under Pulumi's mocks: the Platform value a blueprint gets from AWS, and the AWS side of
Langfuse's storage (one hardened bucket helper, one Pod Identity pattern, aliases from its old home)."""
from __future__ import annotations

import json

import pulumi
import pytest
from pulumi.runtime import settings

from components.aws.platform import AwsPlatformArgs, AwsPoolSpec, build_aws_platform
from components.aws.weight_cache import SeedSpec
from components.context import StackContext
from strait import gpu_labels
from strait.catalog import load_catalog
from strait.plan.mocks import RecordingMonitor, StraitMocks
from tests.helpers import by_name, of_type

CTX = StackContext(project="strait", stack="test", blueprint="phase1_mvp", cost_center="ml")
CAT = load_catalog()


class AliasMonitor(RecordingMonitor):
    """Also records the aliases each registration carries (the plan's records do not)."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.aliases: dict[str, list] = {}

    def RegisterResource(self, request):
        self.aliases[request.name] = [*request.aliasURNs, *(a.urn or a.spec.parentUrn for a in request.aliases)]
        return super().RegisterResource(request)


@pytest.fixture
def amon():
    mocks = StraitMocks(region="ap-southeast-1")
    mon = AliasMonitor(mocks)
    settings.set_root_resource(None)
    pulumi.runtime.set_mocks(mocks, project="strait", stack="test", preview=False, monitor=mon)
    yield mon
    settings.set_root_resource(None)


def _args(**over) -> AwsPlatformArgs:
    base = dict(region="ap-southeast-1", cluster_name="strait-test", kubernetes_version="1.35", vpc_cidr="10.40.0.0/16",
                availability_zones=("ap-southeast-1a", "ap-southeast-1b"), nat_gateways="single",
                system_instance_type="m7i.xlarge", system_nodes=2,
                pools={"t4x4": AwsPoolSpec(instance_types=("g4dn.12xlarge",), min_size=2, max_size=3, desired_size=2)},
                serving_namespace="strait-serving",
                models={"qwen32b": SeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ", revision="main", weights_gib=18)},
                seeder_image="python:3.12-slim", wait_image="aws-cli:2", device_plugin_image="nvidia:1",
                device_plugin_version="0.17.4")
    base.update(over)
    return AwsPlatformArgs(**base)


def _build(store: bool = False, **over):
    out = {}

    @pulumi.runtime.test
    def run():
        p = build_aws_platform(_args(**over), CTX, CAT)
        out["platform"] = p
        if store:
            out["store"] = p.object_store("langfuse", namespace="strait-langfuse", service_account="langfuse",
                                          expire_days={"events/": 30})
            out["annotations"] = p.bind_identity("extra", namespace="ns", service_account="sa", identity="arn:aws:iam::1:role/x")
    run()
    return out


def test_the_platform_value(amon):
    p = _build()["platform"]
    assert p.cloud == "aws" and p.storage_class == "gp3" and set(p.namespaces) == {"strait-serving"}
    [pool] = p.gpu_pools.values()
    assert (pool.gpu_model, pool.gpus_per_node, pool.node_vcpu, pool.node_memory_gib) == ("T4", 4, 48, 192)
    assert pool.node_labels == gpu_labels.pool_labels("t4x4", "T4", "on_demand", device_plugin=True)
    w = p.weights["qwen32b"]
    assert w.uri.startswith("s3://strait-test-weights-") and w.uri.endswith("/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main")
    assert w.service_account == "qwen32b" and w.wait_container["command"][0] == "aws"
    assert [r._name for r in w.ready] == ["weights-seed-qwen32b"] and w.egress
    assert set(p.allows) == {"api_server_egress", "node_metrics_egress", "webhook_ingress"}
    assert of_type(amon, "strait:aws:WeightCache") and of_type(amon, "strait:k8s:NvidiaDevicePlugin")
    assert not of_type(amon, "strait:aws:ClusterAutoscaler")  # no autoscaler unless a chart is given


def test_without_seeding_readers_wait_for_their_identity(amon):
    w = _build(seed=False)["platform"].weights["qwen32b"]
    assert [r._name for r in w.ready] == ["weights-reader-qwen32b"]


def test_langfuse_store_is_a_hardened_bucket_bound_to_one_service_account(amon):
    out = _build(store=True)
    store = out["store"]
    assert store.service_account == "langfuse" and store.region == "ap-southeast-1" and store.egress
    comp = by_name(amon, "langfuse")
    assert comp.type == "strait:aws:ObjectStore"
    children = {r.name: r for r in amon.registrations if r.parent == comp.urn}
    assert set(children) == {"langfuse-bucket", "langfuse-ownership", "langfuse-public-access", "langfuse-sse",
                             "langfuse-versioning", "langfuse-lifecycle", "langfuse-tls-only", "langfuse-role",
                             "langfuse-s3", "langfuse-pod-identity"}
    rules = {r["id"]: r for r in children["langfuse-lifecycle"].inputs["rules"]}
    assert rules["expire-events"]["expiration"] == {"days": 30} and "expire-noncurrent" in rules
    policy = json.loads(children["langfuse-s3"].inputs["policy"])
    assert {a for s in policy["Statement"] for a in s["Action"]} == {
        "s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assoc = children["langfuse-pod-identity"].inputs
    assert (assoc["namespace"], assoc["serviceAccount"]) == ("strait-langfuse", "langfuse")
    # moved from the Langfuse component: every child aliases its old parent, so an update moves, not replaces
    old = "urn:pulumi:test::strait::strait:observability:Langfuse::langfuse"
    assert all(old in amon.aliases[name] for name in children), {n: amon.aliases[n] for n in children}
    assert out["annotations"] == {}
    extra = by_name(amon, "extra")
    assert (extra.inputs["namespace"], extra.inputs["serviceAccount"]) == ("ns", "sa")


def test_one_pod_identity_pattern_everywhere(amon):
    _build(store=True)
    roles = of_type(amon, "aws:iam/role:Role")
    pod_roles = [r for r in roles if "pods.eks.amazonaws.com" in r.inputs["assumeRolePolicy"]]
    # weights reader, seeder, Langfuse store, EBS CSI: each trusted by Pod Identity only
    assert {r.name for r in pod_roles} >= {"weights-reader", "weights-seeder", "langfuse-role"}
    for r in pod_roles:
        trust = json.loads(r.inputs["assumeRolePolicy"])
        assert trust["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
