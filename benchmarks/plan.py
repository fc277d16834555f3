"""Offline-plan speed and memory: `strait plan` against the floor that matters, and how it scales.

The floor is a fresh process that imports exactly the Pulumi SDK modules a plan loads (the list is taken
from a real plan, so lazily loaded submodules the program never touches are not counted). Target: the
plan of phase1-sg no slower than that floor (ratio <= 1.0).

Then synthetic stacks (phase1-sg with many models and GPU pools, written to a temp dir) at about 150,
500 and 2,000 resources: plan time and peak memory (the child's ru_maxrss). Target: linear growth,
<= 8 s and <= 400 MiB at 2,000 resources on the 2-core reference machine.

Prints figures; asserts nothing. Wall time moves with whatever else shares the CPU: each figure is the
median of --runs fresh processes, and CPU time (user + sys) is printed beside it as the steadier measure.

    .venv/bin/python benchmarks/plan.py [--runs N] [--sizes 150,500,2000]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BASE_STACK = "phase1-sg"
SDK_PACKAGES = ("pulumi", "pulumi_aws", "pulumi_kubernetes", "pulumi_random", "pulumi_gcp")
#: Models sharing one GPU pool in the synthetic stacks.
MODELS_PER_POOL = 8

_LIST_MODULES = """
import json, sys
from strait import cli
try:
    cli.main(sys.argv[1:])
finally:
    loaded = [m for m, mod in list(sys.modules.items())
              if m.split(".")[0] in {packages!r} and type(mod).__name__ != "_LazyModule"]
    with open({out!r}, "w") as f:
        json.dump(loaded, f)
"""

_IMPORT_FLOOR = """
import importlib, json, sys
for name in json.load(open(sys.argv[1])):
    importlib.import_module(name)
"""


@dataclass
class Run:
    wall_s: float
    cpu_s: float
    maxrss_mib: float
    returncode: int
    stderr: str


def run(cmd: list[str]) -> Run:
    """One fresh process: wall time, its own CPU time and peak RSS (os.wait4 reports the child alone)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, proc.returncode, stderr)


def repeat(cmd: list[str], runs: int) -> list[Run]:
    out = []
    for _ in range(runs):
        r = run(cmd)
        if r.returncode not in (0, 1):  # 1: a mandatory policy fails; the plan itself ran
            sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
        out.append(r)
    return out


def median(runs: list[Run], attr: str) -> float:
    return statistics.median(getattr(r, attr) for r in runs)


def spread(runs: list[Run], attr: str) -> str:
    vals = [getattr(r, attr) for r in runs]
    return f"{min(vals):.2f}-{max(vals):.2f}"


def plan_cmd(stack: str, out: Path, project_dir: Path | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "strait.cli", "plan", "--stack", stack, "--out", str(out)]
    return cmd + (["--project-dir", str(project_dir)] if project_dir else [])


def sdk_modules(tmp: Path) -> list[str]:
    """The Pulumi SDK modules a real plan of the base stack loads (lazy stubs it never touched excluded)."""
    listing = tmp / "sdk-modules.json"
    script = _LIST_MODULES.format(packages=set(SDK_PACKAGES), out=str(listing))
    r = run([sys.executable, "-c", script, "plan", "--stack", BASE_STACK, "--out", str(tmp / "modules-plan")])
    if not listing.exists():
        sys.exit(f"could not list the SDK modules a plan loads:\n{r.stderr[-3000:]}")
    return json.loads(listing.read_text())


def synthetic_stack(models: int) -> dict:
    """phase1-sg with ``models`` model servers spread over GPU pools of MODELS_PER_POOL models each."""
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{BASE_STACK}.yaml").read_text())
    cfg = doc["config"]
    base_key, base_model = next(iter(cfg["strait:models"].items()))  # the gateway's tiers name it: keep it
    base_pool = cfg["strait:gpu_pools"][base_model["pool"]]
    pools, model_cfgs = {}, {}
    for i in range(models):
        pool = f"pool{i // MODELS_PER_POOL:02d}"
        pools.setdefault(pool, {**copy.deepcopy(base_pool), "min_size": 1, "desired_size": 1,
                                "max_size": max(base_pool["max_size"], MODELS_PER_POOL * base_model["replicas"])})
        model_cfgs[base_key if i == 0 else f"m{i:04d}"] = {**copy.deepcopy(base_model), "pool": pool}
    cfg["strait:gpu_pools"], cfg["strait:models"] = pools, model_cfgs
    cfg["strait:monthly_budget_usd"] = 10**9  # the spend cap is not what is measured here
    return doc


def write_project(tmp: Path, name: str, models: int) -> Path:
    proj = tmp / name
    (proj / "stacks").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "Pulumi.yaml", proj / "Pulumi.yaml")
    shutil.copy(ROOT / "__main__.py", proj / "__main__.py")
    (proj / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(synthetic_stack(models), sort_keys=False))
    return proj


def count_resources(out: Path, stack: str) -> tuple[int, int]:
    res = out / stack / "resources.json"
    return len(json.loads(res.read_text())["resources"]), res.stat().st_size


def calibrate(tmp: Path) -> tuple[int, int]:
    """(resources without models, resources per model), from plans of 1 and 3 models."""
    counts = []
    for m in (1, 3):
        proj = write_project(tmp, f"calibrate-{m}", m)
        repeat(plan_cmd(proj.name, tmp / "out", proj), 1)
        counts.append(count_resources(tmp / "out", proj.name)[0])
    per_model = (counts[1] - counts[0]) // 2
    return counts[0] - per_model, per_model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5, help="fresh processes per figure (median printed)")
    ap.add_argument("--sizes", default="150,500,2000", help="approximate resource counts of the synthetic stacks")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="strait-bench-") as t:
        tmp = Path(t)
        modules = sdk_modules(tmp)
        listing = tmp / "sdk-modules.json"
        floor = repeat([sys.executable, "-c", _IMPORT_FLOOR, str(listing)], args.runs)
        plan = repeat(plan_cmd(BASE_STACK, tmp / "out"), args.runs)
        print(f"floor: a fresh process importing the {len(modules)} Pulumi SDK modules a plan loads: "
              f"{median(floor, 'wall_s'):.2f} s wall ({spread(floor, 'wall_s')}), {median(floor, 'cpu_s'):.2f} s CPU, "
              f"{median(floor, 'maxrss_mib'):.0f} MiB")
        print(f"strait plan --stack {BASE_STACK}: {median(plan, 'wall_s'):.2f} s wall ({spread(plan, 'wall_s')}), "
              f"{median(plan, 'cpu_s'):.2f} s CPU, {median(plan, 'maxrss_mib'):.0f} MiB; "
              f"count {count_resources(tmp / 'out', BASE_STACK)[0]} resources")
        print(f"ratio plan / floor: {median(plan, 'wall_s') / median(floor, 'wall_s'):.2f} wall, "
              f"{median(plan, 'cpu_s') / median(floor, 'cpu_s'):.2f} CPU (target <= 1.0; median of {args.runs} runs each)")

        fixed, per_model = calibrate(tmp)
        print(f"\nsynthetic stacks: {fixed} resources + {per_model} per model ({MODELS_PER_POOL} models per GPU pool)")
        print(f"{'resources':>9} {'models':>6} {'wall s':>7} {'CPU s':>6} {'peak MiB':>8} {'CPU ms/added res':>16} "
              f"{'resources.json':>14}")
        first: tuple[int, float] | None = None
        for size in (int(s) for s in args.sizes.split(",")):
            models = max(1, round((size - fixed) / per_model))
            proj = write_project(tmp, f"synth-{models}", models)
            runs = repeat(plan_cmd(proj.name, tmp / "out", proj), args.runs)
            n, json_bytes = count_resources(tmp / "out", proj.name)
            cpu = median(runs, "cpu_s")
            # Linear growth shows as a flat CPU cost per resource added beyond the smallest stack.
            added = "-" if first is None else f"{1000 * (cpu - first[1]) / (n - first[0]):.2f}"
            first = first or (n, cpu)
            print(f"{n:>9} {models:>6} {median(runs, 'wall_s'):>7.2f} {cpu:>6.2f} {median(runs, 'maxrss_mib'):>8.0f} "
                  f"{added:>16} {json_bytes / 2**20:>11.1f} MiB")
        print("targets at 2,000 resources: <= 8 s wall, <= 400 MiB peak; linear growth (a flat CPU ms per added "
              "resource)")


if __name__ == "__main__":
    main()
