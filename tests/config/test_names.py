"""The longest names and the most tags the config accepts still make valid Kubernetes names and AWS tag sets.

One real offline plan of phase1-sg with every user-chosen name at NAME_MAX_CHARS and USER_TAGS_MAX tags of
maximum length: this measures the longest name Strait derives (prefixes and suffixes included) and the most
tags it puts on one resource, instead of trusting the constants.
"""
from __future__ import annotations

import json
import re

import pytest
import yaml

from strait.config.sections import NAME_MAX_CHARS
from strait.tags import AWS_MAX_TAGS, STRAIT_TAGS_MAX, USER_TAGS_MAX
from tests.conftest import ROOT, run_cli

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
MODEL, POOL, TIER = "m" * NAME_MAX_CHARS, "p" * NAME_MAX_CHARS, "t" * NAME_MAX_CHARS
USER_TAGS = {f"user-tag-{i:02d}-" + "k" * 100: "v" * 256 for i in range(USER_TAGS_MAX)}


@pytest.fixture(scope="module")
def longest(tmp_path_factory):
    proj = tmp_path_factory.mktemp("longest")
    for name in ("Pulumi.yaml", "__main__.py", "blueprints", "components", "strait", "policies"):
        (proj / name).symlink_to(ROOT / name)
    (proj / "stacks").mkdir()
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.phase1-sg.yaml").read_text())
    c = doc["config"]
    c["strait:gpu_pools"] = {POOL: c["strait:gpu_pools"]["t4x4"]}
    c["strait:models"] = {MODEL: {**c["strait:models"]["qwen32b"], "pool": POOL}}
    gw = c["strait:gateway"]
    gw["tiers"] = {TIER: {**gw["tiers"]["self-hosted"], "models": [MODEL]}, "commercial": gw["tiers"]["commercial"]}
    gw["routing"]["ladder"] = [TIER, "commercial"]
    c["strait:tags"] = USER_TAGS
    (proj / "stacks" / "Pulumi.longest.yaml").write_text(yaml.safe_dump(doc))
    out = tmp_path_factory.mktemp("out")
    proc = run_cli("plan", "--stack", "longest", "--project-dir", str(proj), "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out / "longest"


def test_every_kubernetes_name_and_label_is_valid_at_the_longest_names(longest):
    derived = []
    for path in (longest / "manifests").rglob("*.yaml"):
        for m in yaml.safe_load_all(path.read_text()):
            if not m:
                continue
            name = m["metadata"]["name"]
            assert len(name) <= 63 and DNS_LABEL.match(name), (m["kind"], name)
            for labels in (m["metadata"].get("labels") or {},
                           (((m.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}):
                for k, v in labels.items():
                    assert len(str(v)) <= 63 and LABEL_VALUE.match(str(v)), (m["kind"], name, k, v)
            if MODEL in name or POOL in name or TIER in name:
                derived.append(name)
    assert derived, "no Kubernetes name derives from the user's names"
    # The longest derived name, prefixes and suffixes included, fits a DNS-1123 label.
    assert max(map(len, derived)) <= 63


def test_no_resource_carries_more_than_aws_allows(longest):
    resources = json.loads((longest / "resources.json").read_text())["resources"]
    most_own = 0
    for r in resources:
        tags = (r.get("inputs") or {}).get("tags")
        if not isinstance(tags, dict) or not r["type"].startswith("aws:"):
            continue
        assert len(tags) <= AWS_MAX_TAGS, (r["name"], len(tags))
        most_own = max(most_own, len(set(tags) - set(USER_TAGS)))
    assert most_own == STRAIT_TAGS_MAX  # raise STRAIT_TAGS_MAX (and so lower USER_TAGS_MAX) when this grows
