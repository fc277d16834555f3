"""Judge: the prometheus-operator CRD schemas (cloudcoil-models-prometheus-operator, generated from the
operator's own CRDs, v0.80.1). kubernetes-validate has no schemas for custom resources, so every
monitoring.coreos.com object of every planned stack is validated here instead: patterns (durations),
types, required fields, and no field the CRD does not define (pydantic ignores unknown keys, so the
check is that validating and dumping gives back exactly what was planned)."""
from __future__ import annotations

import copy

import pytest
from cloudcoil.models.prometheus_operator import v1

from tests.conftest import STACKS

KINDS = {"ServiceMonitor": v1.ServiceMonitor, "PodMonitor": v1.PodMonitor, "PrometheusRule": v1.PrometheusRule}


def _strip_none(x):
    if isinstance(x, dict):
        return {k: _strip_none(v) for k, v in x.items() if v is not None}
    if isinstance(x, list):
        return [_strip_none(v) for v in x]
    return x


def check_custom_resource(m: dict) -> None:
    """Raise if ``m`` does not validate against its CRD, or carries a field the CRD does not know."""
    cls = KINDS[m["kind"]]
    dumped = _strip_none(cls.model_validate(m).model_dump(by_alias=True, exclude_unset=True, mode="json"))
    if dumped != m:
        raise AssertionError(f"{m['kind']} {m['metadata'].get('name')}: fields the CRD does not define were dropped")


@pytest.mark.parametrize("stack", STACKS)
def test_every_monitoring_object_matches_its_crd(planned, stack):
    crs = [m for _, m in planned[stack].manifests() if m["apiVersion"].startswith("monitoring.coreos.com/")]
    assert crs, "the plan has no ServiceMonitor/PrometheusRule"
    for m in crs:
        check_custom_resource(m)


def test_the_judge_rejects_what_the_crd_rejects(planned):
    monitor = next(m for _, m in planned[STACKS[0]].manifests() if m["kind"] == "ServiceMonitor")
    typo = copy.deepcopy(monitor)
    typo["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(AssertionError):
        check_custom_resource(typo)
    bad = copy.deepcopy(monitor)
    bad["spec"]["endpoints"][0]["interval"] = "15 seconds"
    with pytest.raises(Exception):
        check_custom_resource(bad)
