"""KEDA's own judges of a ScaledObject, for tests: its Python model (cloudcoil-models-keda) and a strict check
of every key against KEDA 2.21's CRD schema and the keys its scalers read (tests/data/keda/, with sources)."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import jsonschema
import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "keda" / "scaledobject-v2.21.yaml"


@functools.lru_cache(maxsize=1)
def crd() -> dict:
    return yaml.safe_load(DATA.read_text())


def strict_crd_schema(schema: dict) -> dict:
    """The CRD's structural schema with unknown keys made errors: the API server would prune them silently
    (a misspelt ``maxReplicas`` is dropped and KEDA's default of 100 applies)."""
    s = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(s)
    # metadata is `type: object` without properties in a CRD (the API server owns its schema).
    return s


@functools.lru_cache(maxsize=1)
def strict_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(strict_crd_schema(crd()["openAPIV3Schema"]))


def strict_errors(obj: dict) -> list[str]:
    """Every way ``obj`` breaks KEDA 2.21's ScaledObject schema, an unknown key included; its CEL rule
    (minReplicaCount <= maxReplicaCount, 100 when unset); and trigger metadata keys the scaler never reads."""
    doc = crd()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in strict_validator().iter_errors(obj)]
    if obj.get("apiVersion") != f"{doc['group']}/{doc['version']}" or obj.get("kind") != doc["kind"]:
        errors.append(f"apiVersion/kind {obj.get('apiVersion')}/{obj.get('kind')} is not {doc['group']}/{doc['version']} "
                      f"{doc['kind']}")
    spec = obj.get("spec") or {}
    lo, hi = spec.get("minReplicaCount"), spec.get("maxReplicaCount", 100)
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:  # wrong types are the schema's errors above
        errors.append("minReplicaCount must be less than or equal to maxReplicaCount")
    known = doc["trigger_metadata"]
    for i, t in enumerate(spec.get("triggers") or []):
        allowed = known.get(t.get("type"))
        if allowed is None:
            errors.append(f"triggers/{i}: scaler {t.get('type')!r} is not one whose keys the data file lists")
            continue
        for key in sorted(set(t.get("metadata") or {}) - set(allowed)):
            errors.append(f"triggers/{i}/metadata/{key}: the {t['type']} scaler does not read it")
        for key in sorted(set(doc["trigger_metadata_required"][t["type"]]) - set(t.get("metadata") or {})):
            errors.append(f"triggers/{i}/metadata/{key}: the {t['type']} scaler requires it")
    return errors


def model_validate(obj: dict):
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    return ScaledObject.model_validate(obj)
