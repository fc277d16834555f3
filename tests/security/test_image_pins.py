"""Image pins (issue 8): an image is pulled by digest where its publisher's digest is known from a source, and
the Checkov skip for the others (CKV_K8S_43) names exactly those images, so it cannot go stale or lie."""
from __future__ import annotations

import json
import re
import subprocess

import pytest
import yaml

from strait.catalog import load_catalog
from tests.conftest import ROOT, STACKS

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def _skip_comment(check: str) -> str:
    """The comment lines right above `- <check>` in .checkov.yaml."""
    lines = (ROOT / ".checkov.yaml").read_text().splitlines()
    i = lines.index(f"  - {check}")
    block = []
    while i > 0 and lines[i - 1].strip().startswith("#"):
        i -= 1
        block.insert(0, lines[i].strip().lstrip("#").strip())
    return " ".join(block)


def test_every_image_has_a_sourced_digest_or_says_why_not():
    for key, pin in load_catalog().images.items():
        if pin.digest:
            assert pin.digest_source and pin.digest_source.startswith("https://"), key
        else:
            assert pin.digest_note and len(pin.digest_note) >= 30, f"{key}: no digest and no digest_note saying why"


def test_the_digest_skip_names_exactly_the_images_without_a_digest():
    cat = load_catalog()
    comment = _skip_comment("CKV_K8S_43")
    listed = set(re.search(r"by their exact version tag: ([^.]+)\.", comment).group(1).replace(" ", "").split(","))
    assert listed == {k for k, p in cat.images.items() if not p.digest}, comment
    assert "README" not in comment  # the old reason cited a README note that did not exist


def test_pinned_images_render_with_their_digest():
    cat = load_catalog()
    for key, pin in cat.images.items():
        ref = cat.image(key)
        assert ref.startswith(f"{pin.repository}:{pin.tag}")
        assert ref.endswith(f"@{pin.digest}") if pin.digest else "@" not in ref


@pytest.mark.parametrize("stack", STACKS)
def test_checkov_accepts_the_digest_pinned_workloads(planned, stack, tmp_path):
    """Checkov's own CKV_K8S_43, without the skip, over the plan's objects whose images all carry a digest."""
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    pinned = []
    for path, doc in planned[stack].manifests():
        spec = doc.get("spec", {}).get("template", {}).get("spec")
        if spec:
            images = [c["image"] for c in spec.get("initContainers", []) + spec["containers"]]
            if all("@sha256:" in i for i in images):
                pinned.append(doc)
    assert pinned, "no workload pulls all its images by digest"
    for i, doc in enumerate(pinned):
        (tmp_path / f"{i}.yaml").write_text(yaml.safe_dump(doc))
    proc = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--framework", "kubernetes", "--check", "CKV_K8S_43",
                           "--compact", "-o", "json"], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)  # not the repo root: its .checkov.yaml skips the very check asked for
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["failed"] == 0 and report["summary"]["passed"] == len(pinned), report["summary"]
