"""Bad input through the real CLI: exit 2, the error on stderr, never a traceback, nothing written."""
from __future__ import annotations

import pytest

from tests.conftest import ROOT, run_cli

BODIES = {
    "list": ("- a\n- b\n", "stacks/Pulumi.bad.yaml is a list, not a mapping with a `config:` section."),
    "scalar": ("hello\n", "stacks/Pulumi.bad.yaml is a single value, not a mapping"),
    "config-list": ("config:\n  - strait:region: x\n", "`config:` is a list"),
    "latin-1": (b"config:\n  strait:cost_center: caf\xe9\n", "line 2, column 26: byte 0xe9 is not UTF-8"),
    "namespace-typo": ((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text().replace(
        "strait:monthly_budget_usd", "strat:monthly_budget_usd"),
        "strat:monthly_budget_usd = <not shown>: unknown namespace 'strat'"),
    "infinite-budget": ((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text().replace(
        "strait:monthly_budget_usd: 12500", "strait:monthly_budget_usd: .inf"),
        "strait:monthly_budget_usd = inf: input should be a finite number"),
}


@pytest.mark.parametrize("case", sorted(BODIES))
def test_bad_stack_file_exits_2(tmp_path, case):
    body, expected = BODIES[case]
    (tmp_path / "stacks").mkdir()
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    path = tmp_path / "stacks" / "Pulumi.bad.yaml"
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    proc = run_cli("plan", "--stack", "bad", "--project-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and expected in proc.stderr
    assert not (tmp_path / "out").exists()


def test_project_dir_without_pulumi_yaml_exits_2(tmp_path):
    proc = run_cli("plan", "--stack", "phase1-sg", "--project-dir", str(tmp_path), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"error: no Pulumi.yaml in {tmp_path}. Fix: pass --project-dir the folder that holds Pulumi.yaml" in proc.stderr


def test_bad_today_exits_2(tmp_path):
    proc = run_cli("plan", "--stack", "phase1-sg", "--today", "30/11/2026", "--out", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "'30/11/2026' is not a date; write it as YYYY-MM-DD" in proc.stderr
