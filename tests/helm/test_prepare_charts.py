"""scripts/prepare-charts.py against a small git repository: tag choice, archive extraction, dependencies."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("prepare_charts", ROOT / "scripts" / "prepare-charts.py")
pc = importlib.util.module_from_spec(_spec)
sys.modules["prepare_charts"] = pc  # dataclasses look their module up while the script loads
_spec.loader.exec_module(pc)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def _release(repo: Path, name: str, version: str, deps=()) -> None:
    chart = repo / "charts" / name
    (chart / "templates").mkdir(parents=True, exist_ok=True)
    doc = {"apiVersion": "v2", "name": name, "version": version}
    if deps:
        doc["dependencies"] = [{"name": d, "version": v, "repository": "https://example.test/charts"} for d, v in deps]
    (chart / "Chart.yaml").write_text(yaml.safe_dump(doc))
    (chart / "templates" / "cm.yaml").write_text(f"# {name} {version}\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", f"{name} {version}")
    _git(repo, "tag", f"{name}-{version}")


@pytest.fixture()
def mirror(tmp_path):
    repo = tmp_path / "owner+charts" / "repo"
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    for v in ("1.0.0", "1.1.0", "1.2.0"):
        _release(repo, "foo", v)
    _release(repo, "foo-bar", "9.0.0")  # another chart whose name starts like foo's tags
    _release(repo, "app", "2.0.0", deps=[("foo", "1.1.*")])
    return tmp_path


def test_exact_tag_nearest_earlier_and_ranges(mirror):
    git_dir = pc.mirror_dir(mirror, "owner/charts")
    assert pc.pick_tag(git_dir, "{name}-{version}", "foo", "1.1.0") == ("foo-1.1.0", True)
    # Not in the snapshot: the newest earlier release, flagged as not exact (never foo-bar-9.0.0).
    assert pc.pick_tag(git_dir, "{name}-{version}", "foo", "1.1.9") == ("foo-1.1.0", False)
    assert pc.pick_tag(git_dir, "{name}-{version}", "foo", "5.0.0") == ("foo-1.2.0", False)
    assert pc.pick_tag(git_dir, "{name}-{version}", "foo", "1.*") == ("foo-1.2.0", True)  # a range is satisfied
    with pytest.raises(LookupError, match="no release tag for foo 0.1.0"):
        pc.pick_tag(git_dir, "{name}-{version}", "foo", "0.1.0")


def test_prepare_extracts_the_tag_and_resolves_dependencies(mirror, tmp_path):
    src = pc.Source("owner/charts", "{name}-{version}", "charts/{name}")
    pc.DEPENDENCY_REPOS["https://example.test/charts"] = src
    try:
        rec = pc.prepare(src, "app", "2.0.0", tmp_path / "out" / "app", mirror)
    finally:
        del pc.DEPENDENCY_REPOS["https://example.test/charts"]
    out = tmp_path / "out" / "app"
    assert rec["tag"] == "app-2.0.0" and rec["exact"] and rec["unresolved"] == []
    assert (out / "templates" / "cm.yaml").read_text() == "# app 2.0.0\n"
    assert yaml.safe_load((out / "charts" / "foo" / "Chart.yaml").read_text())["version"] == "1.1.0"
    assert rec["dependencies"][0]["tag"] == "foo-1.1.0" and rec["dependencies"][0]["exact"]


def test_a_missing_snapshot_is_reported_as_unresolved(mirror, tmp_path):
    src = pc.Source("owner/charts", "{name}-{version}", "charts/{name}")
    rec = pc.prepare(src, "app", "2.0.0", tmp_path / "out" / "app", mirror)
    assert rec["unresolved"][0]["name"] == "foo" and "no source known" in rec["unresolved"][0]["why"]
