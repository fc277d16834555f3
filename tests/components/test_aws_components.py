import json

import pulumi
import pulumi_aws as aws
import pytest

from components.aws.eks_cluster import EksCluster, EksClusterArgs
from components.aws.gpu_node_pool import GpuNodePool, GpuNodePoolArgs
from components.aws.network import Network, NetworkArgs
from components.aws.weight_cache import SeedSpec, WeightCache, WeightCacheArgs
from components.context import StackContext
from strait.plan.mocks import SECRET_MASK
from tests.helpers import by_name, of_type, one

CTX = StackContext(project="strait", stack="test", blueprint="phase1_mvp", cost_center="ml-platform",
                   user_tags={"owner": "team-a"})
STANDARD = {"project", "stack", "blueprint", "component", "cost-center", "managed-by"}


def _run(fn):
    @pulumi.runtime.test
    def inner():
        provider = aws.Provider("aws", region="ap-southeast-1")
        return fn(pulumi.ResourceOptions(providers={"aws": provider}))
    inner()


def _assert_parented_and_provided(monitor, component_name):
    comp = by_name(monitor, component_name)
    children = [r for r in monitor.registrations if r.parent == comp.urn]
    assert children, "component has no children"
    for r in children:
        assert r.name.startswith(f"{component_name}-"), r.name
        if r.custom and r.type.startswith("aws:"):
            assert "::aws::" in r.provider and "default_" not in r.provider, (r.name, r.provider)
            if "tags" in r.inputs:
                assert STANDARD <= set(r.inputs["tags"]), r.name
                assert r.inputs["tags"]["cost-center"] == "ml-platform"
                assert r.inputs["tags"]["owner"] == "team-a"
    return comp, children


@pytest.mark.parametrize("nat,expected", [("single", 1), ("per_az", 3)])
def test_network_spreads_subnets_and_nat(monitor, nat, expected):
    _run(lambda o: Network("net", NetworkArgs(cidr="10.40.0.0/16", availability_zones=["a", "b", "c"], cluster_name="c1",
                                               nat_gateways=nat, tags=CTX.tags("network")), opts=o).urn)
    _assert_parented_and_provided(monitor, "net")
    subnets = of_type(monitor, "aws:ec2/subnet:Subnet")
    assert len(subnets) == 6
    assert len(of_type(monitor, "aws:ec2/natGateway:NatGateway")) == expected
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s.inputs["tags"]]
    assert {s.inputs["availabilityZone"] for s in private} == {"a", "b", "c"}
    assert all(s.inputs["tags"]["kubernetes.io/cluster/c1"] == "shared" for s in subnets)


def test_eks_cluster_exposes_a_kubernetes_provider_with_exec_auth(monitor):
    _run(lambda o: EksCluster("cluster", EksClusterArgs(cluster_name="strait-test", kubernetes_version="1.35", vpc_id="vpc-1",
                                                         private_subnet_ids=["s1", "s2"], tags=CTX.tags("cluster")),
                              region="ap-southeast-1", opts=o).urn)
    _assert_parented_and_provided(monitor, "cluster")
    cluster = one(monitor, "aws:eks/cluster:Cluster")
    assert cluster.inputs["version"] == "1.35"
    assert cluster.inputs["vpcConfig"]["endpointPublicAccess"] is False  # no CIDRs given: private only
    assert cluster.inputs["encryptionConfig"]["resources"] == ["secrets"]
    addons = {a.inputs["addonName"] for a in of_type(monitor, "aws:eks/addon:Addon")}
    assert {"eks-pod-identity-agent", "vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"} <= addons
    k8s_provider = one(monitor, "pulumi:providers:kubernetes")
    kubeconfig = json.loads(k8s_provider.inputs["kubeconfig"])  # only present if the mocks' endpoint resolved
    user = kubeconfig["users"][0]["user"]["exec"]
    assert user["command"] == "aws" and "get-token" in user["args"]
    assert kubeconfig["clusters"][0]["cluster"]["server"].startswith("https://")


def test_gpu_pool_is_tainted_labelled_and_diversified(monitor):
    _run(lambda o: GpuNodePool("gpu-l40s", "l40s", GpuNodePoolArgs(
        cluster_name="c1", node_role_arn="arn:role", subnet_ids=["s1"], instance_types=["g6e.xlarge", "g6e.2xlarge"],
        gpu_model="L40S", capacity="spot", min_size=1, max_size=4, desired_size=2, disk_size_gib=300,
        tags=CTX.tags("gpu-node-pool")), opts=o).urn)
    _assert_parented_and_provided(monitor, "gpu-l40s")
    ng = one(monitor, "aws:eks/nodeGroup:NodeGroup")
    assert ng.inputs["capacityType"] == "SPOT"
    assert ng.inputs["instanceTypes"] == ["g6e.xlarge", "g6e.2xlarge"]
    assert ng.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert ng.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert ng.inputs["labels"]["strait.dev/gpu"] == "L40S" and ng.inputs["labels"]["strait.dev/pool"] == "l40s"
    assert ng.inputs["scalingConfig"] == {"minSize": 1, "maxSize": 4, "desiredSize": 2}
    lt = one(monitor, "aws:ec2/launchTemplate:LaunchTemplate")
    assert lt.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 300
    assert lt.inputs["metadataOptions"]["httpTokens"] == "required"


def test_gpu_pool_rejects_bad_sizes_before_any_child(monitor):
    with pytest.raises(ValueError, match="min_size <= desired_size <= max_size"):
        _run(lambda o: GpuNodePool("gpu-x", "x", GpuNodePoolArgs(
            cluster_name="c1", node_role_arn="r", subnet_ids=["s"], instance_types=["g5.xlarge"], gpu_model="A10G",
            min_size=3, max_size=2, desired_size=3, tags={}), opts=o).urn)
    assert not of_type(monitor, "aws:eks/nodeGroup:NodeGroup")


def test_weight_cache_bucket_is_private_encrypted_versioned_tls_only(monitor):
    import pulumi_kubernetes as k8s

    def build(o):
        kp = k8s.Provider("k8s", kubeconfig="{}")
        opts = pulumi.ResourceOptions(providers={"aws": o.providers["aws"], "kubernetes": kp})
        return WeightCache("weights", WeightCacheArgs(
            bucket_name="strait-test-weights-abc", cluster_name="c1", namespace="strait-serving",
            reader_service_accounts=["qwen32b"], models={"qwen32b": SeedSpec(hf_repo="Qwen/Qwen2.5-32B-Instruct-AWQ",
                                                                               revision="main", weights_gib=18.0)},
            hf_token="hf_plaintext_token_must_not_leak", seeder_image="python:3.12-slim", tags=CTX.tags("weight-cache"),
            region="ap-southeast-1", wait_image="aws-cli:2"),
            opts=opts).urn
    _run(build)
    _assert_parented_and_provided(monitor, "weights")
    pab = one(monitor, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(pab[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    sse = one(monitor, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs
    assert sse["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert one(monitor, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]["status"] == "Enabled"
    policy = json.loads(one(monitor, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    policies = {r.name: json.loads(r.inputs["policy"]) for r in of_type(monitor, "aws:iam/rolePolicy:RolePolicy")}
    reader_actions = {a for s in policies["weights-reader"]["Statement"] for a in s["Action"]}
    assert reader_actions == {"s3:GetObject", "s3:ListBucket"}  # read-only
    assoc = [a.inputs for a in of_type(monitor, "aws:eks/podIdentityAssociation:PodIdentityAssociation")]
    assert {"namespace": "strait-serving", "serviceAccount": "qwen32b"} .items() <= next(
        a for a in assoc if a["serviceAccount"] == "qwen32b").items()
    job = one(monitor, "kubernetes:batch/v1:Job").inputs
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["HF_REPO"]["value"] == "Qwen/Qwen2.5-32B-Instruct-AWQ"
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "strait-hf-token"
    code = one(monitor, "kubernetes:core/v1:ConfigMap").inputs
    from pathlib import Path

    from strait import seeding
    assert code["data"] == {"seeding.py": Path(seeding.__file__).read_text()}
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"][-1].endswith("exec python /opt/strait/seeding.py")
    assert {"name": "code", "configMap": {"name": "weight-seeder"}} in pod["volumes"]
    secret = one(monitor, "kubernetes:core/v1:Secret").inputs
    assert secret["stringData"] == {"HF_TOKEN": SECRET_MASK}
    assert "hf_plaintext_token_must_not_leak" not in repr([r.inputs for r in monitor.registrations])
