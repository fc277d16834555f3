"""Every SLO alert's runbook_url is a real file in this repository, every link inside a runbook resolves (file
and heading), and the TTFT buckets the rules rely on are the pinned engines' own (read from the installed
vLLM 0.33.0 and SGLang 0.5.23 in .venv-vllm)."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from strait.render.slo import RUNBOOKS, TTFT_HISTOGRAMS, ErrorSlo, LatencySlo, SloSpec, slo_rule_groups

ROOT = Path(__file__).resolve().parents[2]
SPEC = SloSpec(latency=(LatencySlo(model="m", served_model_name="m", ttft_ms=500),), errors=(ErrorSlo(tier="t"),))


def _anchors(md: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    out = set()
    for line in md.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return out


def test_every_slo_alert_links_a_runbook_that_exists():
    urls = {r["annotations"]["runbook_url"] for g in slo_rule_groups(SPEC) for r in g["rules"] if "alert" in r}
    assert urls == {f"docs/runbooks/{f}" for f in RUNBOOKS.values()}
    for url in urls:
        assert (ROOT / url).is_file(), url
        assert _anchors(ROOT / url) >= {n.lower() for n, f in RUNBOOKS.items() if url.endswith(f)}


def test_a_fork_can_point_runbooks_at_its_own_repository():
    spec = SloSpec(errors=(ErrorSlo(tier="t"),), runbook_base_url="https://github.com/acme/llm/blob/main/docs/runbooks/")
    urls = {r["annotations"]["runbook_url"] for g in slo_rule_groups(spec) for r in g["rules"] if "alert" in r}
    assert urls == {"https://github.com/acme/llm/blob/main/docs/runbooks/tier-error-budget-burn.md"}


@pytest.mark.parametrize("runbook", sorted((ROOT / "docs/runbooks").glob("*.md")), ids=lambda p: p.name)
def test_links_inside_runbooks_resolve(runbook):
    links = re.findall(r"\]\(([^)\s]+)\)", runbook.read_text())
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        path, _, anchor = link.partition("#")
        target = (runbook.parent / path).resolve() if path else runbook
        assert target.is_file(), f"{runbook.name}: {link}"
        if anchor:
            assert anchor in _anchors(target), f"{runbook.name}: {link} has no heading #{anchor}"


PROBE = """
import ast, json
from importlib.metadata import distribution
from vllm.v1.metrics.buckets import histogram_buckets
# SGLang's package imports triton at import time (absent on CPU), so its source is read, not imported.
dist = distribution("sglang")
src = dist.locate_file("sglang/srt/observability/metrics_collector.py").read_text()
sg = None
for node in ast.walk(ast.parse(src)):
    if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "bucket_time_to_first_token" for t in node.targets):
        sg = [float(ast.literal_eval(e)) for e in node.value.elts]
names = {n: repr(n) in src or json.dumps(n) in src for n in ["sglang:time_to_first_token_seconds"]}
print(json.dumps({"vllm": histogram_buckets("time_to_first_token"), "sglang": sg, "names": names,
                  "sglang_version": dist.version}))
"""


def test_ttft_buckets_are_the_pinned_engines_own():
    py = ROOT / ".venv-vllm/bin/python"
    if not py.exists():
        pytest.fail(".venv-vllm missing: run scripts/setup.sh --test (vLLM and SGLang judges)")
    out = subprocess.run([str(py), "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert tuple(got["vllm"]) == TTFT_HISTOGRAMS["vllm"][2]
    assert tuple(got["sglang"]) == TTFT_HISTOGRAMS["sglang"][2]
    assert got["names"] == {"sglang:time_to_first_token_seconds": True}
    assert got["sglang_version"] == "0.5.23"
    vllm_metrics = json.loads((ROOT / "tests/data/metrics/vllm-0.33.0.json").read_text())["metrics"]
    ttft = next(m for m in vllm_metrics if m["name"] == TTFT_HISTOGRAMS["vllm"][0])
    assert TTFT_HISTOGRAMS["vllm"][1] in ttft["labelnames"] and ttft["type"] == "histogram"
