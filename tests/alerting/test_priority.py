"""Pod priority classes (components/k8s/priority.py): serving above batch, both judged by kubernetes-validate
strict (the Kubernetes 1.35 schema), set on the shared model-server pod, and the component's arg checks raise
before any child exists."""
from __future__ import annotations

import json
import re
import subprocess

import kubernetes_validate
import pulumi
import pytest
import yaml

from strait.plan.mocks import StraitMocks

pulumi.runtime.set_mocks(StraitMocks(), project="strait", stack="test", preview=False)

from components.k8s.model_server import deployment_spec, pod_spec  # noqa: E402
from components.k8s.priority import (  # noqa: E402
    BATCH,
    CLASSES,
    SERVING,
    PriorityClasses,
    PriorityClassesArgs,
    PriorityClassSpec,
    priority_class_body,
)
from tests.components.test_model_server import _pod  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

K8S = "1.35.0"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def test_serving_is_above_batch_and_batch_never_preempts():
    by = {c.name: c for c in CLASSES}
    assert by[SERVING].value > by[BATCH].value > 0  # batch still above pods that name no class (0)
    assert by[SERVING].preemption_policy == "PreemptLowerPriority" and by[BATCH].preemption_policy == "Never"


def test_component_registers_valid_priority_classes(monitor):
    @pulumi.runtime.test
    def build():
        pc = PriorityClasses("priority")
        assert (pc.serving, pc.batch) == (SERVING, BATCH)

    build()
    comp = next(r for r in monitor.registrations if r.type == "strait:k8s:PriorityClasses")
    regs = [r for r in monitor.registrations if r.type == "kubernetes:scheduling.k8s.io/v1:PriorityClass"]
    assert sorted(r.inputs["metadata"]["name"] for r in regs) == [BATCH, SERVING]
    assert all(r.parent == comp.urn for r in regs)
    for r in regs:
        obj = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", **r.inputs}
        kubernetes_validate.validate(obj, K8S, strict=True)
        assert obj["globalDefault"] is False


def test_the_judge_rejects_a_misspelt_field():
    body = priority_class_body(CLASSES[0])
    kubernetes_validate.validate(body, K8S, strict=True)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**body, "preemptPolicy": "Never"}, K8S, strict=True)


@pytest.mark.parametrize("classes,message", [
    ((CLASSES[0],), "priority classes must include strait-serving and strait-batch"),
    ((PriorityClassSpec(name=SERVING, value=10, preemption_policy="PreemptLowerPriority", description="s"), CLASSES[1]),
     "strait-serving (10) must be above strait-batch (1000)"),
    ((PriorityClassSpec(name=SERVING, value=2_000_000_000, preemption_policy="PreemptLowerPriority", description="s"),
      CLASSES[1]), "value 2000000000 is above 1000000000"),
])
def test_bad_classes_raise_before_any_child(monitor, classes, message):
    @pulumi.runtime.test
    def build():
        PriorityClasses("p", PriorityClassesArgs(classes=classes))

    with pytest.raises(ValueError, match=re.escape(message)):
        build()
    assert not [r for r in monitor.registrations if r.type.startswith("kubernetes:")]


def test_model_server_pod_carries_the_serving_class(tmp_path):
    assert "priorityClassName" not in pod_spec(_pod())  # opt-in: phase 1 pods are unchanged
    spec = deployment_spec(_pod(priority_class_name=SERVING), replicas=2, labels={"app.kubernetes.io/instance": "m"})
    assert spec["template"]["spec"]["priorityClassName"] == SERVING
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "m", "namespace": "strait-serving"},
           "spec": spec}
    kubernetes_validate.validate(dep, K8S, strict=True)
    if not CHECKOV.exists():
        pytest.fail("Checkov is not installed; run scripts/setup.sh --test")
    # The stacks' Checkov run judges the real model-server Deployments (tests/blueprints/test_checkov.py). Here,
    # on the test pod: the priority class adds no finding, and the PriorityClasses themselves have none.
    plain = {**dep, "spec": deployment_spec(_pod(), replicas=2, labels={"app.kubernetes.io/instance": "m"})}
    with_class = _checkov(tmp_path / "with", [dep] + [priority_class_body(c) for c in CLASSES])
    without = _checkov(tmp_path / "without", [plain])
    assert with_class == without


def _checkov(folder, docs) -> set[tuple[str, str]]:
    folder.mkdir()
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(docs))
    proc = subprocess.run([str(CHECKOV), "-d", str(folder), "--config-file", str(ROOT / ".checkov.yaml"),
                           "--quiet", "--compact", "-o", "json", "--framework", "kubernetes"],
                          capture_output=True, text=True, timeout=300)
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    assert report["summary"]["parsing_errors"] == 0
    return {(r["check_id"], r["resource"]) for r in report["results"]["failed_checks"]}
