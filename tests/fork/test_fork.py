"""`strait fork`: a fork of every registered blueprint plans offline at once, in a scratch copy of the project;
bad names are refused with exit 2 (field, value, fix) and leave nothing behind."""
from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from blueprints.registry import BLUEPRINTS
from strait.fork import ForkError, example_stack, rewrite_python, rewrite_stack
from tests.conftest import ROOT


def _project(tmp: Path) -> Path:
    """A scratch project: its own blueprints/ and stacks/ (what fork writes), the shared code linked."""
    proj = tmp / "proj"
    proj.mkdir()
    for f in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(ROOT / f, proj / f)
    for d in ("blueprints", "stacks"):
        shutil.copytree(ROOT / d, proj / d, ignore=shutil.ignore_patterns("__pycache__"))
    for d in ("components", "strait", "policies"):
        (proj / d).symlink_to(ROOT / d)
    return proj


def _cli(proj: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "strait.cli", *args], cwd=proj, env=env, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def proj(tmp_path_factory) -> Path:
    return _project(tmp_path_factory.mktemp("fork"))


@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_a_fork_plans_without_edits(proj, tmp_path, blueprint):
    new = f"acme_{blueprint}"
    stack = new.replace("_", "-")
    proc = _cli(proj, "fork", blueprint, new)
    assert proc.returncode == 0, proc.stderr
    pkg = proj / "blueprints" / new
    for f in pkg.rglob("*.py"):  # no import of the original package is left; the shared ones are kept
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(f"blueprints.{blueprint}"), (f, node.module)
    assert f'Literal["{new}"]' in (pkg / "config.py").read_text()
    doc = yaml.safe_load((proj / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    source = example_stack(ROOT, blueprint)
    orig = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{source}.yaml").read_text())
    assert doc["config"] == {**orig["config"], "strait:blueprint": new}

    # The registry finds it (discovery), with its own config model.
    probe = "from blueprints.registry import BLUEPRINTS as B; import sys; bp = B[sys.argv[1]]; " \
            "print(bp.config.__module__, bp.build)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    reg = subprocess.run([sys.executable, "-c", probe, new], cwd=proj, env=env, capture_output=True, text=True)
    assert reg.stdout.split() == [f"blueprints.{new}.config", f"blueprints.{new}:build"], reg.stderr

    plan = _cli(proj, "plan", "--stack", stack, "--out", str(tmp_path))
    assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
    resources = json.loads((tmp_path / stack / "resources.json").read_text())
    text = json.dumps(resources)
    assert f'"blueprint": "{new}"' in text and f'"blueprint": "{blueprint}"' not in text


@pytest.mark.parametrize("args, field, value", [
    (("phase1_mvp", "phase2_scale"), "NEW_NAME", "phase2_scale"),           # an existing blueprint
    (("phase1_mvp", "shared"), "NEW_NAME", "shared"),                       # not a blueprint, but taken
    (("phase1_mvp", "my-team"), "NEW_NAME", "my-team"),                     # not a Python identifier
    (("phase1_mvp", "MyTeam"), "NEW_NAME", "MyTeam"),                       # not a Kubernetes/GCP label value
    (("phase1_mvp", "team_"), "NEW_NAME", "team_"),                         # label values end alphanumeric
    (("phase1_mvp", "1team"), "NEW_NAME", "1team"),
    (("phase1_mvp", "import"), "NEW_NAME", "import"),                       # a Python keyword
    (("phase1_mvp", "a" * 64), "NEW_NAME", "a" * 64),                       # longer than a label value
    (("phase9_nope", "team"), "BLUEPRINT", "phase9_nope"),                  # unknown source
    (("phase1_mvp", "team", "--stack", "phase1-sg"), "--stack", "phase1-sg"),  # an existing stack file
    (("phase1_mvp", "team", "--stack", "Team_Stack"), "--stack", "Team_Stack"),  # not a DNS label
])
def test_refusals(proj, args, field, value):
    before = sorted(p.relative_to(proj) for d in ("blueprints", "stacks") for p in (proj / d).rglob("*")
                    if "__pycache__" not in p.parts)
    proc = _cli(proj, "fork", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"error: {field} = {value!r}" in proc.stderr and "Fix:" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    after = sorted(p.relative_to(proj) for d in ("blueprints", "stacks") for p in (proj / d).rglob("*")
                   if "__pycache__" not in p.parts)
    assert after == before


def test_rewrite_touches_only_the_package_itself():
    src = ('from blueprints.phase1_mvp import observability as obs\n'
           'from blueprints.phase1_mvp.config import Phase1Config\n'
           'from blueprints.phase1_mvp_extra import x\n'
           'from blueprints.shared.platforms import PLATFORMS\n'
           'BLUEPRINT = "phase1_mvp"\n'
           'NOTE = "phase1_mvp"\n'
           '    blueprint: Literal["phase1_mvp"]\n')
    out = rewrite_python(src, "phase1_mvp", "acme")
    assert out.splitlines() == [
        'from blueprints.acme import observability as obs',
        'from blueprints.acme.config import Phase1Config',
        'from blueprints.phase1_mvp_extra import x',
        'from blueprints.shared.platforms import PLATFORMS',
        'BLUEPRINT = "acme"',
        'NOTE = "phase1_mvp"',
        '    blueprint: Literal["acme"]']


def test_stack_rewrite_needs_exactly_one_blueprint_line():
    text = "config:\n  strait:blueprint: phase1_mvp  # the MVP\n  strait:region: ap-southeast-1\n"
    out = rewrite_stack(text, "phase1_mvp", "acme", "phase1-sg", "acme")
    assert yaml.safe_load(out)["config"] == {"strait:blueprint": "acme", "strait:region": "ap-southeast-1"}
    with pytest.raises(ForkError):
        rewrite_stack("config:\n  strait:region: x\n", "phase1_mvp", "acme", "phase1-sg", "acme")


def test_every_blueprint_names_an_existing_example_stack():
    for name in BLUEPRINTS:
        stack = example_stack(ROOT, name)
        doc = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())
        assert doc["config"]["strait:blueprint"] == name
