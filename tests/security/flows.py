"""A planned stack's network, as the NetworkPolicy judges see it: namespaces, pods and policies from the
plan's manifests, plus the few pods Strait depends on but does not render (they come from Helm charts or
the cluster): Prometheus, the cluster DNS, and a pod in a namespace Strait never names."""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from strait.render.netpol import DNS_NAMESPACE, DNS_POD_LABELS, PROMETHEUS_POD_LABELS, SCRAPER_LABEL
from tests.security.netpol_eval import Cluster, Policy, Pod

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
INTRUDER_NS = "intruder"
NCA = Path(__file__).resolve().parents[2] / ".venv-nca" / "bin" / "nca"


@dataclass
class StackNetwork:
    cluster: Cluster
    pods: list[Pod]
    """Strait's own pods (from the manifests)."""
    prometheus: Pod
    dns: Pod
    intruder: Pod

    def by_component(self, component: str) -> list[Pod]:
        return [p for p in self.pods if p.labels.get("app.kubernetes.io/component") == component]

    def by_name(self, name: str) -> list[Pod]:
        return [p for p in self.pods if p.labels.get("app.kubernetes.io/name") == name]


def _docs(manifest_dir: Path) -> list[dict]:
    return [yaml.safe_load(p.read_text()) for p in sorted(manifest_dir.rglob("*.yaml"))]


def _pod(doc: dict) -> Pod:
    tmpl = doc["spec"]["template"]
    ports = {p["name"]: int(p["containerPort"]) for c in tmpl["spec"].get("containers", [])
             for p in c.get("ports", []) if "name" in p}
    return Pod(doc["metadata"]["name"], doc["metadata"]["namespace"], dict(tmpl["metadata"].get("labels") or {}), ports)


def load(manifest_dir: Path) -> StackNetwork:
    docs = _docs(manifest_dir)
    namespaces = {d["metadata"]["name"]: dict(d["metadata"].get("labels") or {}) for d in docs if d["kind"] == "Namespace"}
    scrapers = [n for n, labels in namespaces.items() if labels.get(SCRAPER_LABEL) == "true"]
    assert len(scrapers) == 1, f"expected one metrics-scraper namespace, got {scrapers}"
    namespaces.setdefault(DNS_NAMESPACE, {})
    namespaces[INTRUDER_NS] = {}
    policies = [Policy(d["metadata"]["name"], d["metadata"]["namespace"], d["spec"])
                for d in docs if d["kind"] == "NetworkPolicy"]
    pods = [_pod(d) for d in docs if d["kind"] in WORKLOAD_KINDS]
    return StackNetwork(
        cluster=Cluster(namespaces=namespaces, policies=policies), pods=pods,
        prometheus=Pod("prometheus-kps-prometheus-0", scrapers[0], dict(PROMETHEUS_POD_LABELS), {"web": 9090}),
        dns=Pod("coredns", DNS_NAMESPACE, dict(DNS_POD_LABELS), {"dns": 53}),
        intruder=Pod("intruder", INTRUDER_NS, {"app.kubernetes.io/name": "intruder"}))


def _pod_manifest(pod: Pod) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod.name, "namespace": pod.namespace,
                                                            "labels": dict(pod.labels)},
            "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1",
                                     "ports": [{"name": n, "containerPort": p} for n, p in pod.ports.items()]}]}}


def _nca_label_values(node, key: str = ""):
    """nca's loader turns every int-looking scalar into an int, quoted or not (nca/FileScanners/
    GenericTreeScanner.py to_yaml_objects), then refuses a label value that is not a string, e.g. LWS's
    ``leaderworkerset.sigs.k8s.io/worker-index: '0'``. Rename each all-digit label value to ``n<digits>`` in
    labels and selectors alike: a one-to-one renaming, so what selects what is unchanged."""
    if isinstance(node, dict):
        if key in ("labels", "matchLabels"):
            return {k: f"n{v}" if isinstance(v, str) and v.isdigit() else v for k, v in node.items()}
        out = {k: _nca_label_values(v, k) for k, v in node.items()}
        if key == "matchExpressions" and isinstance(out.get("values"), list):
            out["values"] = [f"n{v}" if isinstance(v, str) and v.isdigit() else v for v in out["values"]]
        return out
    if isinstance(node, list):
        return [_nca_label_values(v, key) for v in node]
    return node


def nca_connectivity(manifest_dir: Path, net: StackNetwork, work: Path) -> set[tuple[str, str, str]]:
    """IBM's network-config-analyzer over the same manifests plus the same extra pods: the set of
    (source, destination, connections) lines between workloads, as `ns/name`."""
    tree = work / "manifests"
    shutil.copytree(manifest_dir, tree)
    for path in tree.rglob("*.yaml"):  # nca 0.x reads '0' as 0 even quoted; see _nca_label_values
        docs = [_nca_label_values(d) for d in yaml.safe_load_all(path.read_text())]
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    extra = [net.prometheus, net.intruder]
    (tree / "_extra").mkdir()
    (tree / "_extra" / "namespaces.yaml").write_text(yaml.safe_dump_all(
        [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INTRUDER_NS}}]
        + [_pod_manifest(p) for p in extra]))
    # nca reads namespaces' own labels (the metrics-scraper label) only from --ns_list, a folder of Namespaces.
    ns_dir = work / "namespaces"
    ns_dir.mkdir()
    for i, doc in enumerate(d for d in _docs(manifest_dir) if d["kind"] == "Namespace"):
        (ns_dir / f"ns-{i}.yaml").write_text(yaml.safe_dump(doc))
    (ns_dir / "ns-intruder.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": INTRUDER_NS}}))
    proc = subprocess.run([str(NCA), "--connectivity", "--resource_list", str(tree), "--ns_list", str(ns_dir),
                           "--pod_list", str(tree), "--output_format", "txt_no_fw_rules"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]  # nca exits 1 when it has warnings to report
    out = set()
    for line in proc.stdout.splitlines():
        if " => " not in line or " : " not in line:
            continue
        pair, conn = line.rsplit(" : ", 1)
        src, dst = (s.split("[")[0].strip() for s in pair.split(" => "))
        out.add((src, dst, conn.strip()))
    return out
