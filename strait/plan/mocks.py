"""Pulumi mocks that answer like the providers would (the recording monitor is in strait.plan.monitor).

If a mock leaves a computed field out (an endpoint, an ARN, a kubeconfig input) the Output stays
unknown, its ``.apply`` never runs, and whatever depends on it silently disappears from the plan.

What each provider computes is a table: :data:`PACKAGE_OUTPUTS` (every type of a package, e.g. ARNs)
and :data:`TYPE_OUTPUTS` (one type, e.g. an EKS endpoint). A new type answers by adding a row: a function
``(ctx, name, inputs) -> outputs``, where an ``"id"`` key sets the resource's ID.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.runtime import rpc

# The recording monitor and the secret mask live in strait.plan.monitor; imported here for existing callers.
from strait.plan.monitor import SECRET_MASK, RecordingMonitor, mask_secrets

__all__ = ["ACCOUNT", "PACKAGE_OUTPUTS", "SECRET_MASK", "TYPE_OUTPUTS", "MockContext", "RecordingMonitor",
           "StraitMocks", "mask_secrets"]

ACCOUNT = "123456789012"
#: Stand-in for the S3 prefix list an S3 gateway endpoint reports (its cidr_blocks): documentation ranges
#: (RFC 5737), so no one mistakes them for AWS's; the real list comes from AWS at deploy time.
MOCK_S3_CIDRS = ("192.0.2.0/24", "198.51.100.0/24")
#: The GCP project the offline plan pretends to deploy into (stacks name their own ``gcp_project``).
GCP_PROJECT = "strait-offline"
#: A fake PEM (base64), the shape EKS and GKE return for the cluster CA.
_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def _fake_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class MockContext:
    """Where the plan pretends to deploy."""

    region: str
    """AWS region."""
    gcp_region: str


#: What a provider computes: ``(ctx, logical name, inputs) -> outputs``; an ``"id"`` key sets the ID.
Computed = Callable[[MockContext, str, dict[str, Any]], dict[str, Any]]


# --- AWS --------------------------------------------------------------------------------------------------
def _aws_any(ctx: MockContext, name: str, inputs: dict[str, Any], t: str = "") -> dict[str, Any]:
    svc = t.split(":")[1].split("/")[0]
    return {"arn": inputs.get("arn", f"arn:aws:{svc}:{ctx.region}:{ACCOUNT}:{name}"),
            "tagsAll": inputs.get("tagsAll", inputs.get("tags", {}))}


def _eks_cluster(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    out = {"endpoint": f"https://{_fake_id(name).upper()}.gr7.{ctx.region}.eks.amazonaws.com",
           "certificateAuthority": {"data": _FAKE_CA},
           "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{ctx.region}.amazonaws.com/id/{_fake_id(name)}"}]}],
           "status": "ACTIVE"}
    if "name" in inputs:
        out["id"] = inputs["name"]
    out["vpcConfig"] = {**(inputs.get("vpcConfig") or {}), "clusterSecurityGroupId": f"sg-{_fake_id(name)}"}
    return out


def _iam_role(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    rid = inputs.get("name", _default_id("aws:iam/role:Role", name))
    return {"id": rid, "arn": f"arn:aws:iam::{ACCOUNT}:role/{rid}"}


def _s3_bucket(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    rid = inputs.get("bucket", _default_id("aws:s3/bucket:Bucket", name))
    return {"id": rid, "arn": f"arn:aws:s3:::{rid}", "bucketRegionalDomainName": f"{rid}.s3.{ctx.region}.amazonaws.com"}


# --- GCP --------------------------------------------------------------------------------------------------
def _gcp_any(ctx: MockContext, name: str, inputs: dict[str, Any], t: str = "") -> dict[str, Any]:
    return {"id": f"{inputs.get('name') or name}-{_fake_id(t + name)}", "project": inputs.get("project") or GCP_PROJECT}


def _gke_cluster(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    project, phys = inputs.get("project") or GCP_PROJECT, inputs.get("name") or name
    rid = f"projects/{project}/locations/{inputs.get('location') or ctx.gcp_region}/clusters/{phys}"
    private = (inputs.get("privateClusterConfig") or {}).get("enablePrivateEndpoint", False)
    return {"id": rid, "name": phys, "endpoint": "172.16.0.2" if private else "34.87.0.10",
            "masterAuth": {"clusterCaCertificate": _FAKE_CA}, "selfLink": f"https://container.googleapis.com/v1/{rid}",
            "labelFingerprint": _fake_id(name)[:8]}


def _gke_node_pool(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    project, phys = inputs.get("project") or GCP_PROJECT, inputs.get("name") or name
    return {"id": f"{inputs.get('cluster', 'cluster')}/nodePools/{phys}", "name": phys,
            "instanceGroupUrls": [f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{ctx.gcp_region}-a/"
                                  f"instanceGroupManagers/gke-{phys}-{_fake_id(name)[:8]}-grp"]}


def _gcp_service_account(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    email = f"{inputs.get('accountId', name)}@{inputs.get('project') or GCP_PROJECT}.iam.gserviceaccount.com"
    rid = f"projects/{inputs.get('project') or GCP_PROJECT}/serviceAccounts/{email}"
    return {"id": rid, "email": email, "member": f"serviceAccount:{email}", "name": rid,
            "uniqueId": str(int(_fake_id(name), 16))}


def _gcs_bucket(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    phys = inputs.get("name") or name
    return {"id": phys, "name": phys, "url": f"gs://{phys}", "selfLink": f"https://www.googleapis.com/storage/v1/b/{phys}"}


def _gcp_compute(kind: str) -> Computed:
    """Networks, subnetworks and routers: an ID and selfLink under ``kind`` (``{region}`` filled in)."""
    def outputs(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
        phys = inputs.get("name") or name
        rid = f"projects/{inputs.get('project') or GCP_PROJECT}/{kind.format(region=inputs.get('region') or ctx.gcp_region)}/{phys}"
        return {"id": rid, "name": phys, "selfLink": f"https://www.googleapis.com/compute/v1/{rid}"}
    return outputs


# --- Kubernetes and the rest -------------------------------------------------------------------------------
def _k8s_any(ctx: MockContext, name: str, inputs: dict[str, Any], t: str = "") -> dict[str, Any]:
    if t.startswith("kubernetes:helm"):
        return {}
    return {"metadata": {"name": name, **(inputs.get("metadata") or {})}}


def _random_password(ctx: MockContext, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    # Deterministic and recognisable, so the leak check can look for it in every output.
    return {"result": rpc.wrap_rpc_secret(f"mock-random-{name}-{_fake_id(name)}")}


#: Outputs every type of a package computes, by the type token's package; applied before the type's own row.
#: These take the type token as a fourth argument.
PACKAGE_OUTPUTS: dict[str, Callable[..., dict[str, Any]]] = {
    "aws": _aws_any,
    "gcp": _gcp_any,
    "kubernetes": _k8s_any,
}

#: Outputs one type computes, by type token.
TYPE_OUTPUTS: dict[str, Computed] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:iam/role:Role": _iam_role,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:ec2/launchTemplate:LaunchTemplate": lambda ctx, name, inputs: {"id": f"lt-{_fake_id(name)}", "latestVersion": 1},
    "aws:eks/nodeGroup:NodeGroup": lambda ctx, name, inputs: {"nodeGroupName": inputs.get("nodeGroupName", name)},
    "aws:kms/key:Key": lambda ctx, name, inputs: {"keyId": _fake_id(name)},
    "aws:ec2/vpcEndpoint:VpcEndpoint": lambda ctx, name, inputs: {"cidrBlocks": list(MOCK_S3_CIDRS)},
    "random:index/randomPassword:RandomPassword": _random_password,
    "aws:rds/instance:Instance": lambda ctx, name, inputs: {
        "address": f"{inputs.get('identifier', name)}.{_fake_id(name)}.{ctx.region}.rds.amazonaws.com",
        "endpoint": f"{inputs.get('identifier', name)}.{_fake_id(name)}.{ctx.region}.rds.amazonaws.com:5432"},
    "gcp:sql/databaseInstance:DatabaseInstance": lambda ctx, name, inputs: {
        "privateIpAddress": "10.56.0.3", "connectionName": f"{GCP_PROJECT}:{ctx.gcp_region}:{inputs.get('name', name)}"},
    "gcp:container/cluster:Cluster": _gke_cluster,
    "gcp:container/nodePool:NodePool": _gke_node_pool,
    "gcp:serviceaccount/account:Account": _gcp_service_account,
    "gcp:storage/bucket:Bucket": _gcs_bucket,
    "gcp:compute/network:Network": _gcp_compute("global/networks"),
    "gcp:compute/subnetwork:Subnetwork": _gcp_compute("regions/{region}/subnetworks"),
    "gcp:compute/router:Router": _gcp_compute("regions/{region}/routers"),
}


def _default_id(t: str, name: str) -> str:
    return f"{name}-{_fake_id(t + name)}"


class StraitMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = "ap-southeast-1", gcp_region: str = "asia-southeast1"):
        self.region = region
        self.gcp_region = gcp_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        ctx = MockContext(region=self.region, gcp_region=self.gcp_region)
        computed: dict[str, Any] = {}
        package = PACKAGE_OUTPUTS.get(t.split(":")[0])
        if package is not None:
            computed.update(package(ctx, name, inputs, t))
        own = TYPE_OUTPUTS.get(t)
        if own is not None:
            computed.update(own(ctx, name, inputs))
        rid = computed.pop("id") if "id" in computed else _default_id(t, name)
        state = {**inputs, **computed}
        state.setdefault("id", rid)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/offline", "userId": "OFFLINE"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        return {}
