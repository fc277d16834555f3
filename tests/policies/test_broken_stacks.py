"""Deliberately broken stacks (tests/data/stacks/*.yaml overlays) through the real `strait plan`.

Config validation rejects some mistakes before anything is planned (exit 2); the rest must be caught
by the policy layer (exit 1). test_policy_layer_* then feed the same mistakes to the rules directly on
resource views, bypassing config validation, through the offline harness and the real pack.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from policies import harness, views
from tests.conftest import ROOT, run_cli
from tests.policies.engine import analyze_plan, configure, running_pack

BROKEN = ROOT / "tests" / "data" / "stacks"
OVERLAYS = sorted(p.stem for p in BROKEN.glob("*.yaml"))


def _set(doc: dict, dotted: str, value) -> None:
    keys = dotted.split(".")
    node = doc["config"].setdefault(f"strait:{keys[0]}", {})
    if len(keys) == 1:
        doc["config"][f"strait:{keys[0]}"] = value
        return
    for k in keys[1:-1]:
        node = node[k]
    node[keys[-1]] = value


def make_project(tmp_path: Path, name: str, overlay: dict) -> Path:
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    (proj / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    for item in ("__main__.py", "blueprints", "components"):
        (proj / item).symlink_to(ROOT / item)
    doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{overlay['base']}.yaml").read_text())
    for key, value in overlay["set"].items():
        _set(doc, key, value)
    (proj / "stacks" / f"Pulumi.{name}.yaml").write_text(yaml.safe_dump(doc))
    return proj


@pytest.mark.parametrize("name", OVERLAYS)
def test_broken_stack_is_caught_with_the_right_exit_code(tmp_path, name):
    overlay = yaml.safe_load((BROKEN / f"{name}.yaml").read_text())
    proj = make_project(tmp_path, name, overlay)
    out = tmp_path / "out"
    proc = run_cli("plan", "--stack", name, "--project-dir", str(proj), "--out", str(out))
    exp = overlay["expect"]
    assert proc.returncode == exp["exit"], proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    if "config_error" in exp:
        assert exp["config_error"] in proc.stderr
        assert not out.exists()
    else:
        report = json.loads((out / name / "policy-report.json").read_text())
        assert report["exitCode"] == 1
        hits = [e for e in report["policyEvents"] if e["policyName"] == exp["policy"]]
        assert hits and all(e["enforcementLevel"] == "mandatory" for e in hits)
        assert any(exp["message"] in e["message"] for e in hits), hits
        assert "FAILED: mandatory policy violations" in (out / name / "policy-report.md").read_text()


def test_clean_stack_exits_zero_with_reports(planned):
    p = planned["phase1-sg"]
    assert p.proc.returncode == 0, p.proc.stderr
    report = json.loads((p.dir / "policy-report.json").read_text())
    assert report["exitCode"] == 0 and report["summary"]["mandatoryViolations"] == 0
    for f in ("cost.json", "policy-config.json", "policy-report.md", "policy-report.sarif"):
        assert (p.dir / f).is_file()


def _mutate_past_config(resources: list[dict]) -> list[dict]:
    """What config validation would have refused: an unoffered instance type and a context that cannot fit."""
    for r in resources:
        if r["type"] == "aws:eks/nodeGroup:NodeGroup" and "strait.dev/gpu" in (r["inputs"].get("labels") or {}):
            r["inputs"]["instanceTypes"] = ["g5.12xlarge"]
        if r["type"] == "kubernetes:apps/v1:Deployment" and r["name"] == "qwen32b-deploy":
            args = r["inputs"]["spec"]["template"]["spec"]["containers"][0]["args"]
            args[args.index("--max-model-len") + 1] = "131072"
    return resources


EXPECTED_BYPASS = {
    ("strait-instance-offered-in-region", "not offered in ap-southeast-1"),
    ("strait-max-model-len-fits", "exceeds the model's native context 32,768"),
    ("strait-max-model-len-fits", "vLLM would refuse to start"),
    ("strait-max-model-len-cap", "above phase phase1_mvp's cap of 32,768"),
}


def _found(events: list[dict]) -> set[tuple[str, str]]:
    return {(p, m) for p, m in EXPECTED_BYPASS
            if any(e["policyName"] == p and m in e["message"] and e["enforcementLevel"] == "mandatory" for e in events)}


def test_policy_layer_catches_what_config_would_have_refused_offline(phase1_resources, ctx):
    res = views.from_plan_records(_mutate_past_config(phase1_resources))
    events = [e.as_json() for e in harness.evaluate(res, harness.resolve_config(), ctx=ctx)]
    assert _found(events) == EXPECTED_BYPASS


def test_policy_layer_catches_what_config_would_have_refused_in_the_real_pack(phase1_resources):
    with running_pack() as stub:
        configure(stub, harness.resolve_config())
        events = analyze_plan(stub, _mutate_past_config(phase1_resources))
    assert _found(events) == EXPECTED_BYPASS
