"""Every stack in stacks/ passes its own policies: no mandatory finding, and no advisory finding unless the
stack file accepts that policy with a reason (strait:accepted_advisories). An acceptance that no longer fires
fails too, so the list cannot rot."""
import json

import pytest

from tests.conftest import STACKS, load_stack_raw


@pytest.mark.parametrize("stack", STACKS)
def test_stack_plans_with_no_unaccepted_policy_finding(planned, stack):
    p = planned[stack]
    assert p.proc.returncode == 0, p.proc.stderr + p.proc.stdout
    doc = json.loads((p.dir / "policy-report.json").read_text())
    accepted = load_stack_raw(stack).get("accepted_advisories") or {}
    findings = [f"[{e['enforcementLevel']}] {e['policyName']}: {' '.join(e['message'].split())}"
                for e in doc["policyEvents"]
                if not (e["enforcementLevel"] == "advisory" and e["policyName"] in accepted)]
    assert findings == [], f"{stack} does not pass its own policies:\n" + "\n".join(findings)
    fired = {e["policyName"] for e in doc["policyEvents"]}
    stale = sorted(set(accepted) - fired)
    assert stale == [], f"{stack} accepts advisories that no longer fire; remove them: {stale}"


@pytest.mark.parametrize("stack", STACKS)
def test_plan_output_shows_accepted_findings_as_accepted(planned, stack):
    out = planned[stack].proc.stdout
    accepted = load_stack_raw(stack).get("accepted_advisories") or {}
    assert "0 mandatory, 0 advisory violation(s)" in out
    for name in accepted:
        assert f"[advisory, accepted] {name}:" in out
