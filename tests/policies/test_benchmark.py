"""benchmarks/policies.py: every rule over 10,000 synthetic resources within the 2 s target."""
from __future__ import annotations

import subprocess
import sys

from policies.rules import RULES
from tests.conftest import ROOT


def test_rules_over_ten_thousand_resources_within_target():
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "policies.py"), "--repeat", "2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"10,000 resources, {len(RULES)} rules" in proc.stdout and "target <= 2.0 s: OK" in proc.stdout
    violations = int(proc.stdout.split("(")[1].split()[0])
    assert violations > 0  # the synthetic stack carries deliberate violations, so the rules do real work
