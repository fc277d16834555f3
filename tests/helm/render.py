"""Render a planned Helm release with Helm's own engine (helm-python-sdk, Helm v4's Go SDK) from upstream sources.

The chart sources come from STRAIT_CHARTS_DIR, prepared by scripts/prepare-charts.py from git snapshots
of the upstream repositories; nothing here touches the network.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from strait.catalog.charts import load_charts

ENV = "STRAIT_CHARTS_DIR"
RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

#: Helm's own split of a rendered template into documents (releaseutil.SplitManifests): `---` may be
#: followed by a comment on the same line, which a plain YAML multi-document parse rejects.
_SEP = re.compile(r"(?:^|\s*\n)---\s*")

class _Loader(yaml.SafeLoader):
    """PyYAML resolves a bare `=` to the YAML 1.1 `value` tag, which it cannot construct; Kubernetes (YAML 1.2) reads
    it as the string "=" (prometheus-operator CRDs list it in an enum)."""


_Loader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def load_yaml(text: str):
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


#: Values added only for the offline render, and why. Nothing else is changed from what Strait deploys.
OFFLINE_OVERRIDES: dict[str, dict] = {
    # Langfuse 2.0 refuses to render unless the cluster already serves the ClickHouse operator's CRDs
    # (templates/validations.yaml, `.Capabilities.APIVersions`). Strait installs the operator release
    # first (depends_on), so on a real cluster the check passes; offline there is no cluster to ask.
    "langfuse": {"clickhouse": {"crdCheck": False}},
}


def charts_dir() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) if value else None


def chart_key(chart: str) -> str:
    """Catalog key of a Release's `chart` input (a repository chart name or an oci:// reference)."""
    for key, pin in load_charts().items():
        if pin.chart == chart:
            return key
    raise KeyError(f"Release chart {chart!r} is not pinned in strait/catalog/data/charts.yaml")


def manifest(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())


def releases(resources: list[dict]) -> dict[str, dict]:
    """Catalog key -> the Release inputs as planned (chart, version, name, namespace, values)."""
    found = {}
    for r in resources:
        if r["type"] == RELEASE_TYPE:
            found[chart_key(r["inputs"]["chart"])] = r["inputs"]
    return found


def merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


#: Kinds without a namespace. Helm (like kubectl) puts every other object a chart renders without one into the
#: release namespace at install time, so the judges see it there too.
CLUSTER_SCOPED = frozenset({
    "APIService", "ClusterRole", "ClusterRoleBinding", "CSIDriver", "CustomResourceDefinition", "IngressClass",
    "MutatingWebhookConfiguration", "Namespace", "PersistentVolume", "PriorityClass", "RuntimeClass", "StorageClass",
    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration"})


def is_test_hook(obj: dict) -> bool:
    """`helm test` pods: a Release (install or upgrade) never creates them, so they are not judged."""
    hooks = ((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")
    return "test" in [h.strip() for h in hooks.split(",")]


def as_installed(objects: list[tuple[str, dict]], namespace: str, crd_scopes: dict[str, str]) -> list[tuple[str, dict]]:
    """What `helm install` applies: no test hooks, namespaced objects in the release namespace."""
    out = []
    for path, obj in objects:
        if is_test_hook(obj):
            continue
        kind = obj.get("kind", "")
        meta = obj.setdefault("metadata", {})
        if kind not in CLUSTER_SCOPED and crd_scopes.get(kind, "Namespaced") == "Namespaced":
            meta.setdefault("namespace", namespace)
        out.append((path, obj))
    return out


def split_documents(rendered: dict[str, str]) -> list[tuple[str, dict]]:
    """(template path, object) for every object Helm rendered; NOTES.txt is not a manifest."""
    docs = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml", ".json")):
            continue
        for part in _SEP.split(text):
            obj = load_yaml(part)
            if obj:
                docs.append((path, obj))
    return docs


@dataclass(frozen=True)
class Rendered:
    key: str
    release: str
    namespace: str
    values: dict
    has_schema: bool
    schema_error: str | None
    objects: list[tuple[str, dict]]
    """What `helm install` applies (as_installed): test hooks dropped, release namespace filled in."""
    crds: list[dict]
    """CustomResourceDefinitions the chart ships in crds/ (Helm installs them before the templates)."""
    missing_enabled: list[str]
    """Sub-charts with no prepared source that these values turn on: their objects are missing from ``objects``."""


def _missing_enabled(chart_dir: Path, merged: dict) -> list[str]:
    """Dependencies prepare-charts.py could not resolve, whose `condition` is true (or that have none)."""
    doc = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    out = []
    for dep in doc.get("dependencies") or []:
        folder = dep.get("alias") or dep["name"]
        if (chart_dir / "charts" / dep["name"]).is_dir() or list((chart_dir / "charts").glob(f"{dep['name']}-*.tgz")):
            continue
        enabled = True
        for cond in (dep.get("condition") or "").split(","):
            node = merged
            for part in cond.strip().split(".") if cond.strip() else []:
                node = node.get(part) if isinstance(node, dict) else None
            if cond.strip() and isinstance(node, bool):
                enabled = node
                break
        if enabled:
            out.append(f"{folder} ({dep['name']} {dep['version']})")
    return out


def render(root: Path, key: str, inputs: dict) -> Rendered:
    import helm_python as helm

    values = merge(inputs.get("values") or {}, OFFLINE_OVERRIDES.get(key, {}))
    with helm.Chart.load(root / key) as chart:
        schema_error = None
        if chart.schema:
            try:
                chart.validate_schema(values)
            except helm.HelmError as exc:
                schema_error = str(exc)
        out = chart.render(values, name=inputs["name"], namespace=inputs["namespace"], is_install=True)
        crds = [d for f in _all_crds(chart) for d in yaml.load_all(f, Loader=_Loader) if d]
        objects = split_documents(out)
        scopes = {c["spec"]["names"]["kind"]: c["spec"].get("scope", "Namespaced")
                  for c in crds + [o for _, o in objects if o.get("kind") == "CustomResourceDefinition"]}
        return Rendered(key=key, release=inputs["name"], namespace=inputs["namespace"], values=values,
                        has_schema=bool(chart.schema), schema_error=schema_error,
                        objects=as_installed(objects, inputs["namespace"], scopes), crds=crds,
                        missing_enabled=_missing_enabled(root / key, chart.merge_values(values)))


def network_policies(plan_dir: Path) -> list[dict]:
    """The plan's own NetworkPolicies (Strait creates them for its namespaces, Helm releases included): Checkov's
    CKV2_K8S_6 asks whether a pod is covered by one, so it must see them beside what Helm renders."""
    out = []
    for p in sorted((plan_dir / "manifests").rglob("*.yaml")):
        for obj in yaml.safe_load_all(p.read_text()):
            if obj and obj.get("kind") == "NetworkPolicy":
                out.append(obj)
    return out


def _all_crds(chart) -> list[str]:
    return [c["data"] for c in chart.crds]


def strict_schema(schema: dict) -> dict:
    """A CRD's openAPIV3Schema that, like the API server's strict field validation, rejects unknown fields:
    every object that lists its properties and neither preserves unknown fields nor declares
    additionalProperties gets ``additionalProperties: false``. ``apiVersion``, ``kind`` and ``metadata`` are
    always allowed at the top (the API server validates them itself)."""
    def walk(node, top=False):
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        out = {k: walk(v) for k, v in node.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
            if top:
                out["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                     "metadata": {"type": "object"}, **out["properties"]}
        return out
    return walk(schema, top=True)
