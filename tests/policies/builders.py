"""Hand-built resource views (camelCase props as Pulumi passes them) for table-driven rule tests."""
from __future__ import annotations

from typing import Any

from policies.views import Res

PROVIDER = {"region": "ap-southeast-1"}


def node_group(name="gpu-ng", types=("g4dn.12xlarge",), capacity="ON_DEMAND", desired=2, max_size=3, gpu="T4",
               region="ap-southeast-1", tags=None) -> Res:
    labels = {"strait.dev/pool": "t4x4"} | ({"strait.dev/gpu": gpu} if gpu else {})
    return Res(urn=f"urn:pulumi:s::p::aws:eks/nodeGroup:NodeGroup::{name}", type="aws:eks/nodeGroup:NodeGroup",
               name=name, props={"instanceTypes": list(types), "capacityType": capacity, "labels": labels,
                                 "scalingConfig": {"minSize": 1.0, "desiredSize": float(desired), "maxSize": float(max_size)},
                                 "tags": tags or {"blueprint": "phase1_mvp"}},
               provider_type="pulumi:providers:aws" if region else None,
               provider_props={"region": region} if region else {})


def eks_cluster(public: bool | None = True, cidrs: list[str] | None = None, name="cluster-eks") -> Res:
    vpc: dict[str, Any] = {"subnetIds": ["s1", "s2"], "endpointPrivateAccess": True}
    if public is not None:
        vpc["endpointPublicAccess"] = public
    if cidrs is not None:
        vpc["publicAccessCidrs"] = cidrs
    return Res(urn=f"urn:pulumi:s::p::aws:eks/cluster:Cluster::{name}", type="aws:eks/cluster:Cluster", name=name,
               props={"vpcConfig": vpc}, provider_type="pulumi:providers:aws", provider_props=PROVIDER)


def vllm_args(model="s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", mml=16384, seqs=32, tp=4, util=0.9,
              kv="auto") -> list[str]:
    return [model, "--served-model-name", "qwen32b", "--max-model-len", str(mml), "--gpu-memory-utilization",
            f"{util:g}", "--max-num-seqs", str(seqs), "--tensor-parallel-size", str(tp), "--kv-cache-dtype", kv]


def deployment(name="qwen32b-deploy", args=None, gpus=4, limits=True, tolerate=True, startup=(10, 39), gpu="T4",
               env=None, replicas=2, labels=None, kind="Deployment", command=("vllm", "serve")) -> Res:
    res: dict[str, Any] = {"requests": {"nvidia.com/gpu": str(gpus)}} if gpus else {}
    if gpus and limits:
        res["limits"] = {"nvidia.com/gpu": str(gpus)}
    c: dict[str, Any] = {"name": "vllm", "image": "vllm/vllm-openai:v0.33.0", "command": list(command),
                         "args": vllm_args() if args is None else args, "resources": res, "env": env or []}
    if startup:
        c["startupProbe"] = {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": float(startup[0]),
                             "failureThreshold": float(startup[1])}
    labels = labels or {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": name}
    pod = {"containers": [c], "nodeSelector": {"strait.dev/pool": "t4x4"} | ({"strait.dev/gpu": gpu} if gpu else {}),
           "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}] if tolerate else []}
    group = "apps/v1" if kind in ("Deployment", "StatefulSet", "DaemonSet") else "batch/v1"
    return Res(urn=f"urn:pulumi:s::p::kubernetes:{group}:{kind}::{name}", type=f"kubernetes:{group}:{kind}", name=name,
               props={"apiVersion": group, "kind": kind, "metadata": {"name": name, "namespace": "serving"},
                      "spec": {"replicas": float(replicas), "selector": {"matchLabels": labels},
                               "template": {"metadata": {"labels": labels}, "spec": pod}}})


def pdb(name="qwen32b-pdb", min_available=None, max_unavailable=None, labels=None) -> Res:
    spec: dict[str, Any] = {"selector": {"matchLabels": labels or {"app.kubernetes.io/name": "vllm",
                                                                   "app.kubernetes.io/instance": "qwen32b-deploy"}}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    if max_unavailable is not None:
        spec["maxUnavailable"] = max_unavailable
    return Res(urn=f"urn:pulumi:s::p::kubernetes:policy/v1:PodDisruptionBudget::{name}",
               type="kubernetes:policy/v1:PodDisruptionBudget", name=name,
               props={"metadata": {"name": name, "namespace": "serving"}, "spec": spec})


def config_map(data: dict[str, str], name="cm") -> Res:
    return Res(urn=f"urn:pulumi:s::p::kubernetes:core/v1:ConfigMap::{name}", type="kubernetes:core/v1:ConfigMap",
               name=name, props={"metadata": {"name": name}, "data": data})
