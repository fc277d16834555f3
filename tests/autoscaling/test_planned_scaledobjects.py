"""Every ScaledObject a stack plans (phase 2 stacks: one per autoscaled model server), judged in the plan's
manifests by KEDA's model and the strict CRD check, and tied to what the plan really creates: its Deployment,
whose pods carry the queue metric's namespace, and a maximum the policies accepted. A stack without
ScaledObjects is skipped and says so."""
from __future__ import annotations

import pytest

from tests.autoscaling.judges import model_validate, strict_errors
from tests.conftest import STACKS


def scaled_objects(planned, stack: str) -> list[dict]:
    assert (planned[stack].dir / "manifests").is_dir(), f"{stack} did not plan: {planned[stack].proc.stderr[-2000:]}"
    found = [doc for _, doc in planned[stack].manifests() if doc and doc.get("kind") == "ScaledObject"]
    if not found:
        pytest.skip(f"{stack} plans no ScaledObject (no queue autoscaling in this stack)")
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_planned_scaled_objects_pass_kedas_judges(planned, stack):
    for so in scaled_objects(planned, stack):
        assert strict_errors(so) == [], so["metadata"]["name"]
        model_validate(so)


@pytest.mark.parametrize("stack", STACKS)
def test_planned_scaled_objects_scale_a_planned_deployment(planned, stack):
    docs = [d for _, d in planned[stack].manifests() if d]
    deployments = {(d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs if d["kind"] == "Deployment"}
    for so in scaled_objects(planned, stack):
        ns, spec = so["metadata"]["namespace"], so["spec"]
        target = deployments.get((ns, spec["scaleTargetRef"]["name"]))
        assert target is not None, f"{so['metadata']['name']}: no Deployment {ns}/{spec['scaleTargetRef']['name']}"
        assert spec["minReplicaCount"] >= 1
        assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300
        (queue,) = [t for t in spec["triggers"] if t["type"] == "prometheus"]
        assert f'namespace="{ns}"' in queue["metadata"]["query"]
