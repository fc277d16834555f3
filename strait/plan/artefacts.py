"""Turn recorded registrations into the files a reader (or a real consumer) checks."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from strait.plan.engine import PlanResult, ResourceRecord, paused_gc

#: libyaml's emitter (C); PyYAML's pure-Python one only where PyYAML was built without libyaml.
_YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_STR, _INT, _BOOL, _NULL = ("tag:yaml.org,2002:str", "tag:yaml.org,2002:int", "tag:yaml.org,2002:bool",
                            "tag:yaml.org,2002:null")
_MAP, _SEQ = "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"


class _ManifestDumper(_YAML_DUMPER):
    """libyaml's emitter with PyYAML's safe representer and resolver made cheap, node for node the same.

    Even the C dumper represents data in Python: per value a type-MRO lookup and alias bookkeeping, and per
    scalar the C serializer calls back into Python's resolver (a regex scan) twice to decide whether the
    plain form would read back as the same type. At 2,000 resources that was ~7% of a plan. Here the plain
    JSON types a manifest holds (str, int, float, bool, None, dict, list of exactly those types) become the
    very nodes SafeRepresenter builds, dicts and lists still tracked by id (a shared object would still
    become an anchor); anything else goes through SafeRepresenter. The resolver's answer for a scalar
    depends only on its value and the implicit flags (no path resolvers are registered), so it is memoised.
    The manifests of every stack are byte-identical to the stock CSafeDumper's (the plan's tests compare).
    """

    _resolved: dict[tuple[str, bool, bool], str] = {}

    def represent(self, data: Any) -> None:
        node = self._node(data)
        self.serialize(node)
        self.represented_objects = {}
        self.object_keeper = []
        self.alias_key = None

    def _node(self, data: Any) -> Any:
        t = type(data)
        if t is str:
            return ScalarNode(_STR, data, style=self.default_style)
        if t is dict or t is list:
            seen = self.represented_objects.get(id(data))
            if seen is not None:
                return seen
            self.object_keeper.append(data)
            value: list[Any] = []
            if t is dict:
                if self.sort_keys:  # not the manifests' case: keep PyYAML's own sorting rules
                    return self.represent_data(data)
                node = MappingNode(_MAP, value, flow_style=None)
                self.represented_objects[id(data)] = node
                best = True
                for k, v in data.items():
                    kn, vn = self._node(k), self._node(v)
                    if best and not (type(kn) is ScalarNode and not kn.style and
                                     type(vn) is ScalarNode and not vn.style):
                        best = False
                    value.append((kn, vn))
            else:
                node = SequenceNode(_SEQ, value, flow_style=None)
                self.represented_objects[id(data)] = node
                best = True
                for v in data:
                    vn = self._node(v)
                    if best and not (type(vn) is ScalarNode and not vn.style):
                        best = False
                    value.append(vn)
            node.flow_style = self.default_flow_style if self.default_flow_style is not None else best
            return node
        if t is bool:
            return ScalarNode(_BOOL, "true" if data else "false", style=self.default_style)
        if t is int:
            return ScalarNode(_INT, str(data), style=self.default_style)
        if data is None:
            return ScalarNode(_NULL, "null", style=self.default_style)
        return self.represent_data(data)  # floats and anything else: PyYAML's own representers

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and not self.yaml_path_resolvers:
            key = (value, implicit[0], implicit[1])
            tag = self._resolved.get(key)
            if tag is None:
                if len(self._resolved) > 200_000:
                    self._resolved.clear()
                tag = self._resolved[key] = super().resolve(kind, value, implicit)
            return tag
        return super().resolve(kind, value, implicit)


#: How many leading bytes group secrets for find_leaks.
_PREFIX_BYTES = 8
#: Keys pulumi-kubernetes adds to inputs that are not part of the object.
_K8S_INTERNAL = {"id", "urn", "__defaults"}


def coerce_numbers(value: Any) -> Any:
    """The RPC layer turns every number into a float; Kubernetes wants integers where they are whole."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: coerce_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce_numbers(v) for v in value]
    return value


def is_k8s_object(r: ResourceRecord) -> bool:
    return r.custom and r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm")


def manifest_of(r: ResourceRecord) -> dict[str, Any]:
    inputs = coerce_numbers({k: v for k, v in r.inputs.items() if k not in _K8S_INTERNAL})
    group_version, kind = r.type.split(":")[1], r.type.split(":")[2]
    group, version = group_version.split("/")
    api_version = inputs.pop("apiVersion", version if group == "core" else f"{group}/{version}")
    inputs.pop("kind", None)
    meta = inputs.pop("metadata", {}) or {}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **dict(sorted(inputs.items()))}


def manifests(plan: PlanResult) -> list[dict[str, Any]]:
    return [manifest_of(r) for r in plan.resources if is_k8s_object(r)]


def manifest_path(m: dict[str, Any]) -> str:
    ns = m["metadata"].get("namespace", "_cluster")
    return f"{ns}/{m['kind'].lower()}-{m['metadata'].get('name', 'unnamed')}.yaml"


def litellm_files(plan: PlanResult, objects: list[dict[str, Any]] | None = None) -> dict[str, str]:
    """The gateway's mounted files (config.yaml, the routing hook and its rules), as the proxy sees them.

    ``objects``: the plan's manifests when the caller has them already. Default: built from ``plan``."""
    for m in (manifests(plan) if objects is None else objects):
        if m["kind"] == "ConfigMap" and "config.yaml" in (m.get("data") or {}) and \
                m["metadata"].get("labels", {}).get("app.kubernetes.io/name") == "litellm":
            return dict(m["data"])
    return {}


def dump_manifest(m: dict[str, Any]) -> str:
    """A manifest as YAML: apiVersion, kind and metadata first, then the rest (keys sorted by the monitor)."""
    return yaml.dump(m, Dumper=_ManifestDumper, sort_keys=False, default_flow_style=False)


def write_artefacts(plan: PlanResult, out_dir: Path) -> dict[str, Path]:
    with paused_gc():
        return _write_artefacts(plan, out_dir)


def _write_artefacts(plan: PlanResult, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    res = out_dir / "resources.json"
    res.write_text(json.dumps({
        "stack": plan.stack.stack, "project": plan.stack.project,
        "resources": [r.as_json() for r in plan.resources], "outputs": plan.outputs,
    }, indent=2, sort_keys=True, default=str) + "\n")
    written["resources"] = res
    mdir = out_dir / "manifests"
    # A previous plan's manifests: those this plan writes again are overwritten in place, the rest removed
    # afterwards (unlinking and recreating 2,000 files cost more than writing them).
    stale = set(mdir.rglob("*.yaml")) if mdir.exists() else set()
    objects = manifests(plan)
    made: set[Path] = set()
    for m in objects:
        p = mdir / manifest_path(m)
        if p.parent not in made:  # once per folder: at 2,000 resources mkdir per file cost more than the YAML
            p.parent.mkdir(parents=True, exist_ok=True)
            made.add(p.parent)
        stale.discard(p)
        with open(p, "w", encoding="utf-8") as f:
            f.write(dump_manifest(m))
    for old in sorted(stale):
        old.unlink()
    written["manifests"] = mdir
    files = litellm_files(plan, objects)
    if files:
        ldir = out_dir / "litellm"
        ldir.mkdir(parents=True, exist_ok=True)
        for fname, text in sorted(files.items()):
            (ldir / fname).write_text(text)
        written["litellm"] = ldir / "config.yaml"
    return written


def find_leaks(out_dir: Path, secrets: list[str]) -> list[str]:
    """Files under ``out_dir`` containing any of ``secrets`` in plain text (one entry per secret found).

    Secrets sharing their first bytes (every mock random password starts ``mock-random-``) are looked for
    together: one scan per distinct prefix, not one per secret, so 200 models cost one pass over the files.
    """
    needles = [s.encode() for s in secrets if s]
    groups: dict[bytes, set[bytes]] = {}
    for n in needles:
        groups.setdefault(n[:_PREFIX_BYTES], set()).add(n)
    leaks = []
    for p in sorted(out_dir.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            found: set[bytes] = set()
            for prefix, group in groups.items():
                i = data.find(prefix)
                while i != -1 and not group <= found:
                    found.update(n for n in group if data.startswith(n, i))
                    i = data.find(prefix, i + 1)
            leaks += [f"{p.relative_to(out_dir)}" for n in needles if n in found]
    return leaks
