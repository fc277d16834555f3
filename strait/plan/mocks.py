"""Pulumi mocks that answer like the providers would, and a monitor that records every registration.

If a mock leaves a computed field out (an endpoint, an ARN, a kubeconfig input) the Output stays
unknown, its ``.apply`` never runs, and whatever depends on it silently disappears from the plan.
"""
from __future__ import annotations

import hashlib
from typing import Any

import pulumi
from pulumi.runtime import rpc

# The recording monitor and the secret mask live in strait.plan.monitor; imported here for existing callers.
from strait.plan.monitor import SECRET_MASK, RecordingMonitor, mask_secrets

__all__ = ["ACCOUNT", "SECRET_MASK", "RecordingMonitor", "StraitMocks", "mask_secrets"]

ACCOUNT = "123456789012"
#: The GCP project the offline plan pretends to deploy into (stacks name their own ``gcp_project``).
GCP_PROJECT = "strait-offline"
#: A fake PEM (base64), the shape GKE returns in masterAuth.clusterCaCertificate.
_FAKE_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="


def _fake_id(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:12]


class StraitMocks(pulumi.runtime.Mocks):
    def __init__(self, region: str = "ap-southeast-1", gcp_region: str = "asia-southeast1"):
        self.region = region
        self.gcp_region = gcp_region

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        t, name, inputs = args.typ, args.name, dict(args.inputs)
        rid = f"{name}-{_fake_id(t + name)}"
        state = dict(inputs)
        if t.startswith("aws:"):
            svc = t.split(":")[1].split("/")[0]
            state.setdefault("arn", f"arn:aws:{svc}:{self.region}:{ACCOUNT}:{name}")
            state.setdefault("tagsAll", inputs.get("tags", {}))
        if t == "aws:eks/cluster:Cluster":
            state.update(endpoint=f"https://{_fake_id(name).upper()}.gr7.{self.region}.eks.amazonaws.com",
                         certificateAuthority={"data": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCm1vY2sKLS0tLS1FTkQgQ0VSVElGSUNBVEUtLS0tLQo="},
                         identities=[{"oidcs": [{"issuer": f"https://oidc.eks.{self.region}.amazonaws.com/id/{_fake_id(name)}"}]}],
                         status="ACTIVE")
            rid = inputs.get("name", rid)
        elif t == "aws:iam/role:Role":
            rid = inputs.get("name", rid)
            state["arn"] = f"arn:aws:iam::{ACCOUNT}:role/{rid}"
        elif t == "aws:s3/bucket:Bucket":
            rid = inputs.get("bucket", rid)
            state["arn"] = f"arn:aws:s3:::{rid}"
            state["bucketRegionalDomainName"] = f"{rid}.s3.{self.region}.amazonaws.com"
        elif t == "aws:ec2/launchTemplate:LaunchTemplate":
            state["latestVersion"] = 1
            rid = f"lt-{_fake_id(name)}"
        elif t == "aws:eks/nodeGroup:NodeGroup":
            state.setdefault("nodeGroupName", name)
        elif t == "aws:kms/key:Key":
            state["keyId"] = _fake_id(name)
        elif t == "random:index/randomPassword:RandomPassword":
            # Deterministic and recognisable, so the leak check can look for it in every output.
            state["result"] = rpc.wrap_rpc_secret(f"mock-random-{name}-{_fake_id(name)}")
        elif t.startswith("gcp:"):
            rid, gcp_state = _gcp_state(t, name, inputs, self.gcp_region)
            state.update(gcp_state)
        elif t.startswith("kubernetes:") and not t.startswith("kubernetes:helm"):
            meta = dict(inputs.get("metadata") or {})
            meta.setdefault("name", name)
            state["metadata"] = meta
        state.setdefault("id", rid)
        return rid, state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/offline", "userId": "OFFLINE"}
        if args.token == "aws:index/getRegion:getRegion":
            return {"name": self.region, "region": self.region}
        return {}


def _gcp_state(t: str, name: str, inputs: dict, region: str) -> tuple[str, dict]:
    """What the Google provider computes for the GCP types Strait creates (ids, emails, endpoints, URLs)."""
    project = inputs.get("project") or GCP_PROJECT
    phys = inputs.get("name") or name
    state: dict[str, Any] = {"project": project}
    if t == "gcp:container/cluster:Cluster":
        loc = inputs.get("location") or region
        rid = f"projects/{project}/locations/{loc}/clusters/{phys}"
        private = (inputs.get("privateClusterConfig") or {}).get("enablePrivateEndpoint", False)
        state.update(name=phys, endpoint="172.16.0.2" if private else "34.87.0.10",
                     masterAuth={"clusterCaCertificate": _FAKE_CA}, selfLink=f"https://container.googleapis.com/v1/{rid}",
                     labelFingerprint=_fake_id(name)[:8])
    elif t == "gcp:container/nodePool:NodePool":
        rid = f"{inputs.get('cluster', 'cluster')}/nodePools/{phys}"
        state.update(name=phys, instanceGroupUrls=[f"https://www.googleapis.com/compute/v1/projects/{project}/zones/"
                                                   f"{region}-a/instanceGroupManagers/gke-{phys}-{_fake_id(name)[:8]}-grp"])
    elif t == "gcp:serviceaccount/account:Account":
        email = f"{inputs.get('accountId', name)}@{project}.iam.gserviceaccount.com"
        rid = f"projects/{project}/serviceAccounts/{email}"
        state.update(email=email, member=f"serviceAccount:{email}", name=rid, uniqueId=str(int(_fake_id(name), 16)))
    elif t == "gcp:storage/bucket:Bucket":
        rid = phys
        state.update(name=phys, url=f"gs://{phys}", selfLink=f"https://www.googleapis.com/storage/v1/b/{phys}")
    elif t in ("gcp:compute/network:Network", "gcp:compute/subnetwork:Subnetwork", "gcp:compute/router:Router"):
        kind = {"gcp:compute/network:Network": "global/networks",
                "gcp:compute/subnetwork:Subnetwork": f"regions/{inputs.get('region') or region}/subnetworks",
                "gcp:compute/router:Router": f"regions/{inputs.get('region') or region}/routers"}[t]
        rid = f"projects/{project}/{kind}/{phys}"
        state.update(name=phys, selfLink=f"https://www.googleapis.com/compute/v1/{rid}")
    else:
        rid = f"{phys}-{_fake_id(t + name)}"
    return rid, state
