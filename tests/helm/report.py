"""Print what Helm renders from each planned release and what Checkov finds in it (the figures tests/helm judges).

    STRAIT_CHARTS_DIR=/tmp/strait-charts python -m tests.helm.report [--stack phase1-sg] [--plan-dir DIR]

Plans the stack with the real CLI (unless --plan-dir holds a plan), renders every Helm release with
helm-python-sdk from the prepared chart sources, and prints, per release: the chart source, objects rendered
(by kind), whether values.schema.json exists and passes, and Checkov's failures before and after the
documented per-object exceptions in tests/helm/checkov-exceptions.yaml.
"""
from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tests.helm import render as hr

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def checkov(directory: Path) -> list[dict]:
    proc = subprocess.run([str(CHECKOV), "-d", str(directory), "--config-file", str(ROOT / ".checkov.yaml"), "--quiet",
                           "--compact", "-o", "json"], capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    return [f for r in (report if isinstance(report, list) else [report]) for f in r["results"]["failed_checks"]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stack", default="phase1-sg")
    ap.add_argument("--plan-dir", type=Path, help="An existing `strait plan --out` directory.")
    args = ap.parse_args(argv)
    root = hr.charts_dir()
    if root is None:
        print(f"{hr.ENV} is not set; prepare it with scripts/prepare-charts.py", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        plan_dir = args.plan_dir
        if plan_dir is None:
            plan_dir = Path(tmp) / "plan"
            subprocess.run([sys.executable, "-m", "strait.cli", "plan", "--stack", args.stack, "--out", str(plan_dir)],
                           cwd=ROOT, check=True, capture_output=True)
        resources = json.loads((plan_dir / args.stack / "resources.json").read_text())["resources"]
        man = hr.manifest(root)
        exceptions = yaml.safe_load((Path(__file__).with_name("checkov-exceptions.yaml")).read_text()) or {}
        out = Path(tmp) / "rendered"
        rendered = {}
        for key, inputs in sorted(hr.releases(resources).items()):
            r = hr.render(root, key, inputs)
            rendered[key] = r
            d = out / key
            d.mkdir(parents=True)
            for i, (_, obj) in enumerate(r.objects):
                (d / f"{i:03d}-{obj['kind'].lower()}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
        netpol = out / "_strait-networkpolicies"
        netpol.mkdir()
        for i, obj in enumerate(hr.network_policies(plan_dir / args.stack)):
            (netpol / f"{i:03d}.yaml").write_text(yaml.safe_dump(obj, sort_keys=False))
        fails = collections.defaultdict(set)
        for f in checkov(out):
            key = Path(f["file_path"]).parts[1]
            if key in rendered:
                fails[key].add((f["resource"], f["check_id"]))
        print(f"| release | source | objects | values.schema.json | Checkov failures | after exceptions |")
        print("|---|---|---|---|---|---|")
        for key, r in rendered.items():
            m = man[key]
            src = f"{m['repo']}@{m['tag']}" + ("" if m["exact"] else f" (pinned {m['pinned']})")
            kinds = collections.Counter(o["kind"] for _, o in r.objects)
            schema = ("passes" if r.schema_error is None else "FAILS") if r.has_schema else "none"
            acc = exceptions.get(key, {})
            left = sorted((res, c) for res, c in fails[key] if c not in acc.get(res, {}))
            print(f"| {key} | {src} | {len(r.objects)} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}) "
                  f"| {schema} | {len(fails[key])} | {len(left)} |")
        for key in rendered:
            for res, c in sorted(fails[key]):
                mark = "accepted" if c in exceptions.get(key, {}).get(res, {}) else "FAIL"
                print(f"  {key}: {mark} {c} {res}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
