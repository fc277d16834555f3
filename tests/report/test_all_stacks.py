"""`strait report --all-stacks`: every stack's policy report merged into ONE pull-request comment."""
from __future__ import annotations

import shutil

from strait.report import COMMENT_MARKER, collect_reports, merge_markdown
from tests.conftest import ROOT, run_cli


def _report(stack: str, n_lines: int = 3) -> str:
    body = "\n".join(f"| row {i} | {stack} |" for i in range(n_lines))
    return (f"{COMMENT_MARKER}\n## Strait plan: `{stack}` (ap-southeast-1): passed\n\n<details><summary>Policies"
            f"</summary>\n\n{body}\n\n</details>\n\n### Cost estimate\n")


def test_one_marker_a_summary_and_a_section_per_stack():
    merged = merge_markdown([("a", 0, _report("a")), ("b", 1, _report("b").replace(": passed", ": FAILED: x")),
                             ("c", 2, None)])
    assert merged.startswith(COMMENT_MARKER) and merged.count(COMMENT_MARKER) == 1
    assert "worst exit code 2" in merged
    assert "| `a` | passed | 0 |" in merged and "| `b` | FAILED: x | 1 |" in merged
    assert "| `c` | no report: invalid configuration, or not planned | 2 |" in merged
    for s in "abc":
        assert merged.count(f"## Strait plan: `{s}`") == 1
    assert merged.index("`a` (ap") < merged.index("`b` (ap") < merged.index("## Strait plan: `c`")


def test_long_reports_are_cut_to_fit_with_their_details_closed():
    reports = [(s, 0, _report(s, 3000)) for s in ("a", "b", "c")]
    merged = merge_markdown(reports, limit=20_000)
    assert len(merged) <= 20_000
    for s in "abc":
        section = merged.split(f"## Strait plan: `{s}`", 1)[1].split("## Strait plan:", 1)[0]
        assert section.count("<details") == section.count("</details>")
        assert f"out/{s}/policy-report.md" in section
    short = merge_markdown([("a", 0, _report("a"))], limit=20_000)
    assert "truncated" not in short


def test_cli_merges_real_reports(tmp_path):
    proj = tmp_path / "proj"
    (proj / "stacks").mkdir(parents=True)
    shutil.copy(ROOT / "Pulumi.yaml", proj / "Pulumi.yaml")
    for s in ("phase1-jkt", "phase1-sg"):
        shutil.copy(ROOT / "stacks" / f"Pulumi.{s}.yaml", proj / "stacks" / f"Pulumi.{s}.yaml")
    out = tmp_path / "out"
    plan = run_cli("plan", "--stack", "phase1-jkt", "--out", str(out), "--project-dir", str(ROOT))
    assert plan.returncode == 0, plan.stderr
    proc = run_cli("report", "--all-stacks", "--out", str(out), "--project-dir", str(proj))
    assert proc.returncode == 2, proc.stderr  # phase1-sg was not planned: no report counts as exit 2
    text = proc.stdout
    assert text.count(COMMENT_MARKER) == 1 and "## Strait plan: `phase1-jkt` (ap-southeast-3): passed" in text
    assert "### Cost estimate" in text and "## Strait plan: `phase1-sg`: no report" in text
    assert collect_reports(out, ["phase1-jkt"])[0][1] == 0
    both = run_cli("report", "--all-stacks", "--stack", "phase1-jkt", "--out", str(out))
    assert both.returncode == 2 and "Fix:" in both.stderr
