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
    (minReplicaCount <= maxReplicaCount, 100 when unset); trigger metadata keys the scaler never reads or
    requires; and the admission webhook's static checks (``webhook_errors``)."""
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
    return errors + webhook_errors(obj)


MAX_LABEL_VALUE = 63


def webhook_errors(obj: dict) -> list[str]:
    """The static checks KEDA 2.21's admission webhook makes on a ScaledObject (apis/keda/v1alpha1 at the data
    file's commit: scaledobject_webhook.go verifyName, scaletriggers_types.go ValidateTriggers,
    scaledobject_types.go CheckReplicaCountBoundsAreValid and CheckFallbackValid). The checks that need a cluster
    (an HPA or another ScaledObject already owning the workload) are not here."""
    out = []
    name = (obj.get("metadata") or {}).get("name", "")
    spec = obj.get("spec") or {}
    if len(name) > MAX_LABEL_VALUE:
        out.append(f"scaledobject name {name!r} is {len(name)} characters long; must be no more than 63")
    hpa = ((spec.get("advanced") or {}).get("horizontalPodAutoscalerConfig") or {}).get("name") or f"keda-hpa-{name}"
    if len(hpa) > MAX_LABEL_VALUE:
        out.append(f"HPA name {hpa!r} derived from scaledobject is {len(hpa)} characters long; must be no more than 63")
    triggers = spec.get("triggers") or []
    if not triggers:
        out.append("no triggers defined in the ScaledObject/ScaledJob")
    seen = set()
    for t in triggers:
        if t.get("useCachedMetrics") and t.get("type") in ("cpu", "memory", "cron"):
            out.append(f'property "useCachedMetrics" is not supported for {t["type"]!r} scaler')
        if t.get("name"):
            if t["name"] in seen:
                out.append(f"triggerName {t['name']!r} is defined multiple times in the ScaledObject/ScaledJob")
            seen.add(t["name"])
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if isinstance(lo, int) and isinstance(hi, int) and lo > hi:
        out.append(f"MinReplicaCount={lo} must be less than MaxReplicaCount={hi}")
    idle = spec.get("idleReplicaCount")
    if isinstance(idle, int) and isinstance(lo, int) and idle >= lo:
        out.append(f"IdleReplicaCount={idle} must be less than MinReplicaCount={lo}")
    fb = spec.get("fallback")
    if fb is not None:
        if fb.get("failureThreshold", 0) < 0 or fb.get("replicas", 0) < 0:
            out.append("FailureThreshold & Replicas must both be greater than or equal to 0")
        if not (spec.get("advanced") or {}).get("scalingModifiers") and \
                not any(t.get("type") not in ("cpu", "memory") for t in triggers):
            out.append("at least one trigger (that is not cpu or memory) has to have the `AverageValue` type for the "
                       "fallback to be enabled")
    return out


def model_validate(obj: dict):
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    return ScaledObject.model_validate(obj)
