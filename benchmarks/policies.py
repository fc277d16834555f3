"""Time every policy rule over a synthetic stack of 10,000 resources (target: <= 2 s in total).

    .venv/bin/python benchmarks/policies.py [--resources N] [--repeat R]

The stack mixes what a large Strait deployment registers: GPU node groups with their providers,
vLLM Deployments with PDBs and API-key Secrets, gateway ConfigMaps, and plain AWS resources.
Exit code 1 when the total is over the target.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from policies import harness, views  # noqa: E402
from policies.clock import today  # noqa: E402
from policies.rules import RULES, Ctx  # noqa: E402
from strait.catalog import load_catalog  # noqa: E402
from strait.gpu_labels import GPU_LABEL, GPU_RESOURCE, GPU_TOLERATION, POOL_LABEL  # noqa: E402

TARGET_SECONDS = 2.0
PROVIDER = {"region": "ap-southeast-1"}


def synthetic_stack(n: int) -> list[views.Res]:
    out: list[views.Res] = []
    i = 0
    while len(out) < n:
        ns, pool = f"team-{i % 50}", f"pool-{i}"
        labels = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": f"m{i}"}
        out.append(views.Res(
            urn=f"urn:pulumi:bench::strait::aws:eks/nodeGroup:NodeGroup::{pool}", type=views.NODE_GROUP, name=pool,
            props={"instanceTypes": ["g4dn.12xlarge"], "capacityType": "ON_DEMAND",
                   "labels": {POOL_LABEL: pool, GPU_LABEL: "T4"}, "tags": {"blueprint": "phase1_mvp"},
                   "scalingConfig": {"minSize": 1.0, "desiredSize": 1.0, "maxSize": 2.0}},
            provider_type=views.AWS_PROVIDER, provider_props=PROVIDER))
        mml = "65536" if i % 10 == 0 else "8192"  # every tenth server breaks the context rules, so they do real work
        args = ["s3://b/models/Qwen/Qwen2.5-32B-Instruct-AWQ/main", "--max-model-len", mml, "--max-num-seqs", "8",
                "--tensor-parallel-size", "4", "--gpu-memory-utilization", "0.9", "--kv-cache-dtype", "auto"]
        pod = {"nodeSelector": {POOL_LABEL: pool, GPU_LABEL: "T4"},
               "tolerations": [GPU_TOLERATION],
               "containers": [{"name": "vllm", "command": ["vllm", "serve"], "args": args,
                               "env": [{"name": "VLLM_API_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "k"}}},
                                       {"name": "HF_HUB_OFFLINE", "value": "1"}],
                               "resources": {"requests": {GPU_RESOURCE: "4"}, "limits": {GPU_RESOURCE: "4"}},
                               "startupProbe": {"periodSeconds": 10.0, "failureThreshold": 60.0}}]}
        out.append(views.Res(
            urn=f"urn:pulumi:bench::strait::kubernetes:apps/v1:Deployment::m{i}", type="kubernetes:apps/v1:Deployment",
            name=f"m{i}", props={"metadata": {"name": f"m{i}", "namespace": ns},
                                 "spec": {"replicas": 2.0, "template": {"metadata": {"labels": labels}, "spec": pod}}}))
        out.append(views.Res(
            urn=f"urn:pulumi:bench::strait::kubernetes:policy/v1:PodDisruptionBudget::m{i}", type=views.PDB, name=f"m{i}",
            props={"metadata": {"namespace": ns}, "spec": {"minAvailable": 2.0, "selector": {"matchLabels": labels}}
                   if i % 7 == 0 else {"maxUnavailable": 1.0, "selector": {"matchLabels": labels}}}))
        out.append(views.Res(
            urn=f"urn:pulumi:bench::strait::kubernetes:core/v1:ConfigMap::cm{i}", type=views.CONFIG_MAP, name=f"cm{i}",
            props={"data": {"config.yaml": "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n"
                                           "model_list:\n- model_name: m\n  litellm_params:\n    api_key: os.environ/K\n"}}))
        for kind in ("aws:s3/bucket:Bucket", "aws:iam/role:Role", "aws:ec2/subnet:Subnet", "aws:iam/rolePolicy:RolePolicy",
                     "kubernetes:core/v1:Secret", "kubernetes:core/v1:Service"):
            out.append(views.Res(urn=f"urn:pulumi:bench::strait::{kind}::r{i}", type=kind, name=f"r{i}",
                                 props={"tags": {"blueprint": "phase1_mvp"}}, provider_type=views.AWS_PROVIDER,
                                 provider_props=PROVIDER))
        i += 1
    return out[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resources", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    resources = synthetic_stack(a.resources)
    ctx = Ctx(catalog=load_catalog(), today=today())
    config = harness.resolve_config(harness.stack_policy_config(1e9))
    per_rule: dict[str, list[float]] = {r.name: [] for r in RULES}
    totals, events = [], []
    for _ in range(a.repeat):
        t_all = time.perf_counter()
        events = []
        for rule in RULES:
            t = time.perf_counter()
            events += harness.evaluate(resources, config, ctx=ctx, rules=[rule])
            per_rule[rule.name].append(time.perf_counter() - t)
        totals.append(time.perf_counter() - t_all)
    print(f"{len(resources):,} resources, {len(RULES)} rules, best of {a.repeat} runs ({len(events)} violations)")
    for name, ts in per_rule.items():
        print(f"  {name:<36} {min(ts) * 1000:8.1f} ms")
    best = min(totals)
    print(f"total: {best:.3f} s (median {statistics.median(totals):.3f} s); target <= {TARGET_SECONDS:.1f} s: "
          f"{'OK' if best <= TARGET_SECONDS else 'OVER'}")
    return 0 if best <= TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
