"""Every Strait pod runs as a non-root user, as Kubernetes enforces it: `runAsNonRoot: true` (the kubelet then
refuses to start a container whose user is 0) AND a non-zero UID. A UID alone is not enough: an image or a
later edit can change it, and without runAsNonRoot nothing stops a root container (issue 13, survivor 2).
"""
from __future__ import annotations

import pytest

from tests.conftest import STACKS

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
#: Workloads that must run as root, and why (the same reasons Checkov is given on the object).
ROOT_ALLOWED = {"kube-system/nvidia-device-plugin": "writes its socket into the root-owned kubelet directory"}


def _pod_spec(doc: dict) -> dict:
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def effective_user(pod: dict, container: dict) -> tuple[object, object]:
    """(runAsNonRoot, runAsUser) as the kubelet sees them: the container's securityContext overrides the pod's."""
    pod_ctx, ctr_ctx = pod.get("securityContext") or {}, container.get("securityContext") or {}
    return (ctr_ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")), ctr_ctx.get("runAsUser", pod_ctx.get("runAsUser")))


@pytest.mark.parametrize("stack", STACKS)
def test_every_strait_container_runs_as_non_root(planned, stack):
    checked, problems = 0, []
    for path, doc in planned[stack].manifests():
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        key = f"{doc['metadata']['namespace']}/{doc['metadata']['name']}"
        if key in ROOT_ALLOWED:
            continue
        pod = _pod_spec(doc)
        for c in pod.get("initContainers", []) + pod["containers"]:
            non_root, uid = effective_user(pod, c)
            checked += 1
            if non_root is not True:
                problems.append(f"{key} container {c['name']}: runAsNonRoot is {non_root!r}, must be true")
            if not isinstance(uid, int) or uid == 0:
                problems.append(f"{key} container {c['name']}: runAsUser is {uid!r}, must be a non-zero UID")
    assert checked >= 4, f"only {checked} containers found: is the plan empty?"
    assert not problems, "\n".join(problems)


def test_the_override_rule_is_the_kubelets():
    pod = {"securityContext": {"runAsNonRoot": True, "runAsUser": 10001}}
    assert effective_user(pod, {}) == (True, 10001)
    assert effective_user(pod, {"securityContext": {"runAsNonRoot": False}}) == (False, 10001)
    assert effective_user(pod, {"securityContext": {"runAsUser": 0}}) == (True, 0)
