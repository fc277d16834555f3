"""The PR workflow (.github/workflows/strait-plan.yml): shape, its offline step run for real, and zizmor."""
from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from strait.report import COMMENT_MARKER
from tests.conftest import ROOT

WF = ROOT / ".github" / "workflows" / "strait-plan.yml"


@pytest.fixture(scope="module")
def wf() -> dict:
    return yaml.safe_load(WF.read_text())


def _step(wf, name):
    return next(s for s in wf["jobs"]["plan"]["steps"] if s.get("name", "").startswith(name))


def test_runs_on_pull_requests_and_can_comment(wf):
    assert "pull_request" in wf[True]  # YAML 1.1 reads `on:` as True
    perms = wf["jobs"]["plan"]["permissions"]
    assert perms["pull-requests"] == "write" and wf["permissions"] == {"contents": "read"}


def test_preview_with_the_pack_only_when_credentials_exist(wf):
    step = _step(wf, "pulumi preview")
    assert step["if"] == "env.HAS_PULUMI == 'true'"
    assert "--policy-pack policies --policy-pack-config \"out/$s/policy-config.json\"" in step["run"]
    assert "secrets.PULUMI_ACCESS_TOKEN" in wf["jobs"]["plan"]["env"]["HAS_PULUMI"]


def test_one_updatable_comment(wf):
    script = _step(wf, "Post or update the PR comment")["with"]["script"]
    assert f"const marker = '{COMMENT_MARKER}'" in script
    assert "updateComment" in script and "createComment" in script


def test_every_action_is_pinned_to_a_commit(wf):
    for s in wf["jobs"]["plan"]["steps"]:
        if "uses" in s:
            ref = s["uses"].split("@", 1)[1]
            assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), s["uses"]


def test_offline_step_runs_and_builds_the_comment(tmp_path, wf):
    """Run the workflow's own offline bash step in a scratch checkout (symlinked), as Actions would."""
    for item in ("Pulumi.yaml", "__main__.py", "blueprints", "components", "stacks", ".venv"):
        (tmp_path / item).symlink_to(ROOT / item)
    out_file = tmp_path / "gh-output"
    env = {**os.environ, "GITHUB_OUTPUT": str(out_file), "PYTHONPATH": str(ROOT)}
    script = _step(wf, "Offline plan, policies and cost")["run"]
    proc = subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert out_file.read_text().strip() == "exit_code=0"
    comment = (tmp_path / "pr-comment.md").read_text()
    assert comment.startswith(COMMENT_MARKER) and "## Strait plan: `phase1-sg`" in comment
    assert "### Cost estimate" in comment


def test_zizmor_finds_nothing():
    proc = subprocess.run([str(ROOT / ".venv" / "bin" / "zizmor"), "--offline", str(WF)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
