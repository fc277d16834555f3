"""Two plans of the same stack, in two processes, write byte-identical files.

The processes get different hash seeds on purpose: set and protobuf-map iteration order follow the
seed, and that is exactly what used to reorder resources.json and the manifests between runs.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, STACKS


def plan_in_fresh_process(stack: str, out: Path, hash_seed: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "strait.cli", "plan", "--stack", stack, "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("stack", STACKS)
def test_two_plans_in_two_processes_are_byte_identical(tmp_path, stack):
    runs = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed-{seed}"
        proc = plan_in_fresh_process(stack, out, seed)
        assert proc.returncode in (0, 1), proc.stderr  # 1: a mandatory policy fails; the files are still written
        assert "Traceback" not in proc.stderr
        runs.append((out, proc))
    (a, pa), (b, pb) = runs
    files_a, files_b = tree(a / stack), tree(b / stack)
    assert "resources.json" in files_a and any(f.startswith("manifests/") for f in files_a)
    assert sorted(files_a) == sorted(files_b)
    differ = [f for f in files_a if files_a[f] != files_b[f]]
    assert not differ, f"files that differ between two plans: {differ}"
    assert pa.stdout.replace(str(a), "OUT") == pb.stdout.replace(str(b), "OUT")
