"""Offline-plan speed: wall time of `strait plan` per stack against a bare SDK import.

Targets (issue #2): a plan takes no more than 3x the bare `import pulumi, pulumi_aws, pulumi_kubernetes`,
and phase1-sg takes no more than 5 s on the 2-core reference machine. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/plan.py [--runs N]
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    stacks = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (ROOT / "stacks").glob("Pulumi.*.yaml"))
    wall([sys.executable, "-c", "import pulumi, pulumi_aws, pulumi_kubernetes"], 1)  # warm the page cache
    bare = statistics.median(wall([sys.executable, "-c", "import pulumi, pulumi_aws, pulumi_kubernetes"], args.runs))
    print(f"bare import pulumi, pulumi_aws, pulumi_kubernetes: {bare:.3f} s (median of {args.runs})")
    # Where the time goes: the SDK's top-level packages load their submodules lazily, on first attribute
    # access; a submodule the program touches (pulumi_aws.ec2: ~600 classes) then loads whole.
    used = ("import pulumi_aws as aws, pulumi_kubernetes as k, pulumi_random; "
            "aws.ec2.Vpc, aws.eks.Cluster, aws.iam.Role, aws.kms.Key, aws.s3.Bucket, k.apps.v1.Deployment, "
            "k.core.v1.Service, k.batch.v1.Job, k.networking.v1.NetworkPolicy, k.policy.v1.PodDisruptionBudget, "
            "k.storage.v1.StorageClass, k.helm.v3.Release, k.apiextensions.CustomResource")
    floor = statistics.median(wall([sys.executable, "-c", used], args.runs))
    print(f"import the SDK submodules the program uses (no program, no plan): {floor:.3f} s; "
          f"{floor / bare:.1f}x the bare import")
    with tempfile.TemporaryDirectory() as out:
        for stack in stacks:
            t = wall([sys.executable, "-m", "strait.cli", "plan", "--stack", stack, "--out", out], args.runs)
            med = statistics.median(t)
            print(f"strait plan --stack {stack}: {med:.3f} s median, {min(t):.3f}-{max(t):.3f} s "
                  f"({args.runs} runs); {med / bare:.1f}x the bare import")


if __name__ == "__main__":
    main()
