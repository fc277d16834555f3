"""Every planned stack that turns receivers on (the phase 3 stacks do): the Alertmanager config exactly as the
plan hands it to kube-prometheus-stack passes `amtool check-config` and routes by severity; the credentials are only
in the receivers' Secret (masked), which the release depends on; the Secret, Alertmanager's egress policy and the
PriorityClasses pass kubernetes-validate strict; any SLO rules in the planned PrometheusRule pass promtool."""
from __future__ import annotations

import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from strait.render.alertmanager import RECEIVERS_SECRET
from tests.blueprints.test_plan_offline import kubernetes_version
from tests.conftest import STACKS, load_stack_raw


def _receivers_on(stack: str) -> bool:
    a = (load_stack_raw(stack).get("observability") or {}).get("alerting") or {}
    return bool(a.get("pagerduty") or a.get("slack_channel"))


ALERTING_STACKS = [s for s in STACKS if _receivers_on(s)]


def judge(plan_dir: Path, amtool: str, promtool: str, k8s_version: str, tmp_path: Path) -> None:
    import json

    resources = json.loads((plan_dir / "resources.json").read_text())["resources"]
    kps = next(r for r in resources if r.get("type", "").endswith("helm.sh/v3:Release")
               and r["inputs"].get("chart") == "kube-prometheus-stack")
    secret_urn = next(r["urn"] for r in resources if r["urn"].endswith("Secret::monitoring-alertmanager-receivers"))
    assert secret_urn in kps["dependencies"]
    am = kps["inputs"]["values"]["alertmanager"]
    assert am["alertmanagerSpec"]["secrets"] == [RECEIVERS_SECRET]
    cfg = tmp_path / "alertmanager.yaml"
    cfg.write_text(yaml.safe_dump(am["config"]))
    out = subprocess.run([amtool, "check-config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    receivers = {r["name"] for r in am["config"]["receivers"]}
    expect = ",".join(x for x in ("pagerduty", "slack") if x in receivers)
    out = subprocess.run([amtool, "config", "routes", "test", f"--config.file={cfg}", f"--verify.receivers={expect}",
                          "severity=critical", "alertname=StraitModelServerDown"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    manifests = {p.relative_to(plan_dir / "manifests").as_posix(): yaml.safe_load(p.read_text())
                 for p in (plan_dir / "manifests").rglob("*.yaml")}
    secret = manifests["strait-monitoring/secret-alertmanager-receivers.yaml"]
    assert set(secret["stringData"].values()) == {"[secret]"}
    judged = [secret, manifests["strait-monitoring/networkpolicy-allow-alertmanager-receivers.yaml"]]
    judged += [m for m in manifests.values() if m.get("kind") == "PriorityClass"]
    for m in judged:
        kubernetes_validate.validate(m, k8s_version, strict=True)
    rules = [m for m in manifests.values() if m.get("kind") == "PrometheusRule"]
    slo = [g for m in rules for g in m["spec"]["groups"] if g["name"].startswith("strait-slo")]
    if slo:
        f = tmp_path / "slo.yml"
        f.write_text(yaml.safe_dump({"groups": slo}))
        out = subprocess.run([promtool, "check", "rules", str(f)], capture_output=True, text=True)
        assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("stack", ALERTING_STACKS)
def test_planned_alerting_is_judged(planned, stack, amtool, promtool, tmp_path):
    p = planned[stack]
    assert p.proc.returncode == 0, p.proc.stderr
    judge(p.dir, amtool, promtool, f"{kubernetes_version(stack)}.0", tmp_path)
