"""The blueprint is small enough to fork, and picks its cloud once."""
from __future__ import annotations

import ast
import typing

from tests.conftest import ROOT

PROGRAM = ROOT / "blueprints" / "phase1_mvp" / "__init__.py"
MAX_PROGRAM_LINES = 150


def test_the_program_fits_on_a_few_screens():
    n = len(PROGRAM.read_text().splitlines())
    assert n <= MAX_PROGRAM_LINES, f"{PROGRAM.relative_to(ROOT)} has {n} lines (max {MAX_PROGRAM_LINES})"


def test_no_cloud_comparisons_in_the_wiring():
    """`PLATFORMS[cfg.cloud]` picks the cloud; nothing else in a blueprint branches on it."""
    hits = []
    for path in sorted((ROOT / "blueprints").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare):
                names = [n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)]
                consts = [n.value for n in ast.walk(node) if isinstance(n, ast.Constant)]
                if "cloud" in names or {"aws", "gcp"} & set(consts):
                    hits.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not hits, hits


def test_every_cloud_the_config_accepts_has_a_platform():
    from blueprints.phase1_mvp.config import Phase1Config
    from blueprints.phase1_mvp.platforms import PLATFORMS

    clouds = set(typing.get_args(Phase1Config.model_fields["cloud"].annotation))
    assert clouds == set(PLATFORMS)


def test_the_program_imports_no_cloud():
    mods = set()
    for node in ast.walk(ast.parse(PROGRAM.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            mods.add(node.module)
        elif isinstance(node, ast.Import):
            mods |= {a.name for a in node.names}
    assert not {m for m in mods if m.startswith(("components.aws", "components.gcp", "pulumi_aws", "pulumi_gcp"))}
