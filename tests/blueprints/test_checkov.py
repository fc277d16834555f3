"""Checkov (the real one, in .venv-checkov) passes every stack's manifests, with the skips in .checkov.yaml."""
import json
import subprocess

import pytest

from tests.conftest import ROOT, STACKS

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_passes(planned, stack):
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    proc = subprocess.run([str(CHECKOV), "-d", str(planned[stack].dir / "manifests"), "--config-file",
                           str(ROOT / ".checkov.yaml"), "--quiet", "--compact", "-o", "json"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = [f"{r['check_id']} {r['resource']}: {r['check_name']}" for r in report["results"]["failed_checks"]]
    assert failed == [], "\n".join(failed)
    assert report["summary"]["passed"] > 100 and report["summary"]["parsing_errors"] == 0
