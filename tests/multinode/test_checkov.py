"""Checkov (the real one, .venv-checkov, with .checkov.yaml) over a LeaderWorkerSet's pods. Checkov does not know
the LeaderWorkerSet kind, so its leader and worker templates are judged as the Pods LWS creates from them, beside
the NetworkPolicies that select them. The only findings are the worker's missing HTTP probes: a headless rank
serves no HTTP, and its health is the group's (a dead rank fails the leader's /health; LWS recreates the group)."""
from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from components.aws.weight_cache import wait_container
from components.k8s.vllm_multinode import group_policies, render_leaderworkerset
from components.platform import WeightSource
from strait.render.netpol import namespace_baseline
from tests.conftest import ROOT
from tests.multinode.test_leaderworkerset import URI, group

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
WEIGHTS = WeightSource(uri=URI, service_account="weights-reader",
                       wait_container=wait_container("cache", "models/x/.strait-complete",
                                                     "public.ecr.aws/aws-cli/aws-cli:2.27.50", "ap-southeast-3"))
EXPECTED = {("CKV_K8S_8", "Pod.strait-serving.llama405b-1"), ("CKV_K8S_9", "Pod.strait-serving.llama405b-1")}


def test_checkov_passes_the_group_pods_but_the_headless_workers_probes(tmp_path):
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    g = group(weights=WEIGHTS)
    lwt = render_leaderworkerset(g)["spec"]["leaderWorkerTemplate"]
    docs = []
    for i, role in enumerate(("leaderTemplate", "workerTemplate")):
        t = lwt[role]
        docs.append({"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"llama405b-{i}", "namespace": g.namespace, "labels": t["metadata"]["labels"],
            "annotations": t["metadata"]["annotations"]}, "spec": t["spec"]})
    for name, spec in {**namespace_baseline(), **group_policies(g, ("strait-gateway",))}.items():
        docs.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": name, "namespace": g.namespace}, "spec": spec})
    (tmp_path / "lws.yaml").write_text(yaml.safe_dump_all(docs))
    proc = subprocess.run([str(CHECKOV), "-d", str(tmp_path), "--config-file", str(ROOT / ".checkov.yaml"), "--quiet",
                           "--compact", "-o", "json"], capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    failed = {(r["check_id"], r["resource"]) for r in report["results"]["failed_checks"]}
    assert failed == EXPECTED
    assert report["summary"]["passed"] > 50 and report["summary"]["parsing_errors"] == 0
